package server

import (
	"net/http"
	"time"
)

// issued counts a token issued to the client at now, and the address it
// was requested from, in the usage tally (in memory; written in the
// background by usage.Service, never on the token path).
func (s *Server) issued(r *http.Request, clientID string, now time.Time) {
	if s.tally != nil {
		s.tally.Issued(clientID, s.clientIP.Addr(r), now)
	}
}
