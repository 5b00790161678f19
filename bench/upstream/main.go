// Command upstream is the API behind the gateway in the gateway load run
// (bench/gateway.sh): it answers every request with a small JSON body,
// doing as little as possible so that the run measures the gateway.
//
//	go run ./bench/upstream -addr 127.0.0.1:9200
package main

import (
	"flag"
	"log"
	"net/http"
	"strconv"
	"time"
)

var body = []byte(`{"id":"rec_1","name":"Example record","status":"active","updated_at":"2025-01-01T00:00:00Z"}` + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:9200", "listen address")
	delay := flag.Duration("delay", 0, "time each response takes (an API's own work, e.g. a database call), without using CPU")
	flag.Parse()
	length := strconv.Itoa(len(body))
	srv := &http.Server{
		Addr: *addr,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *delay > 0 {
				time.Sleep(*delay)
			}
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{length}
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Fatal(srv.ListenAndServe())
}
