package server

import (
	"time"
)

// issued counts a token issued to the client at now, and the address it
// was requested from, in the usage tally (in memory; written in the
// background by usage.Service, never on the token path).
func (s *Server) issued(clientID, addr string, now time.Time) {
	if s.tally != nil {
		s.tally.Issued(clientID, addr, now)
	}
}
