// Command seed fills a Gatehouse store with many clients for load runs, and
// writes the HTTP Basic credentials of those clients to a file for the load
// generator (bench/many-clients.lua).
//
//	go run ./bench/seed -n 10000   (uses GATEHOUSE_DATA_DIR / GATEHOUSE_DATABASE_URL)
//	go run ./bench/seed -n 1000000 -create=false -headers /tmp/auth.txt   (a store seeded before)
//
// Clients are seed-00000, seed-00001, ... (at least five digits), each with
// the scopes api:read-only and search and the secret given (SEED_SECRET).
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/scope"
)

func main() {
	n := flag.Int("n", 10000, "number of clients")
	secret := flag.String("secret", os.Getenv("SEED_SECRET"), "secret for every client (at least 32 characters; default: generated per client)")
	dataDir := flag.String("data-dir", os.Getenv("GATEHOUSE_DATA_DIR"), "data directory")
	database := flag.String("database", os.Getenv("GATEHOUSE_DATABASE_URL"), "database URL")
	create := flag.Bool("create", true, "create the clients (false: only write -headers, for a store seeded before)")
	headers := flag.String("headers", "", "write each client's Authorization header value (Basic ...) to this file, one a line, in a random order (needs -secret)")
	workers := flag.Int("workers", 4, "clients created at once (PostgreSQL takes them in parallel; SQLite one after another)")
	flag.Parse()
	if *headers != "" && *secret == "" {
		log.Fatal("seed: -headers needs the clients' secret: set -secret or SEED_SECRET")
	}
	if *create {
		if err := seed(*n, *workers, *secret, *dataDir, *database); err != nil {
			log.Fatal(err)
		}
	}
	if *headers != "" {
		if err := writeHeaders(*headers, *n, *secret); err != nil {
			log.Fatal(err)
		}
	}
}

// id is the ID of the i-th seeded client.
func id(i int) string { return fmt.Sprintf("seed-%05d", i) }

func seed(n, workers int, secret, dataDir, database string) error {
	if dataDir == "" {
		dataDir = "./gatehouse-data"
	}
	ctx := context.Background()
	st, err := backend.Open(ctx, database, dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := clients.NewService(st, scope.Default(), 30*24*time.Hour, time.Now, rand.Reader)
	start := time.Now()
	var (
		next, done atomic.Int64
		wg         sync.WaitGroup
		errOnce    sync.Once
		firstErr   error
		failed     atomic.Bool
	)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || failed.Load() {
					return
				}
				_, _, err := svc.Create(ctx, "bench-seed", clients.Spec{
					ID: id(i), Name: fmt.Sprintf("seed client %d", i),
					Scopes: []string{"api:read-only", "search"}, Secret: secret,
				})
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("create %s: %w", id(i), err) })
					failed.Store(true)
					return
				}
				if d := done.Add(1); d%100_000 == 0 {
					fmt.Fprintf(os.Stderr, "%d clients, %s\n", d, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("created %d clients in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// writeHeaders writes "Basic base64(id:secret)" for clients 0..n-1 to path,
// in a random (but always the same) order, so that a load generator reading
// it in order touches clients in no pattern the store could profit from.
func writeHeaders(path string, n int, secret string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := mrand.New(mrand.NewPCG(1, 2))
	for _, i := range r.Perm(n) {
		fmt.Fprintf(w, "Basic %s\n", base64.StdEncoding.EncodeToString([]byte(id(i)+":"+secret)))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %d Authorization headers to %s\n", n, path)
	return nil
}
