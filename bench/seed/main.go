// Command seed fills a Gatehouse store with many clients for load runs.
//
//	go run ./bench/seed -n 10000   (uses GATEHOUSE_DATA_DIR / GATEHOUSE_DATABASE_URL)
package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/internal/clients"
	"github.com/gatehouse/gatehouse/internal/store/backend"
	"github.com/gatehouse/gatehouse/scope"
)

func main() {
	n := flag.Int("n", 10000, "number of clients to create")
	secret := flag.String("secret", os.Getenv("SEED_SECRET"), "secret for every client (at least 32 characters; default: generated per client)")
	dataDir := flag.String("data-dir", os.Getenv("GATEHOUSE_DATA_DIR"), "data directory")
	database := flag.String("database", os.Getenv("GATEHOUSE_DATABASE_URL"), "database URL")
	flag.Parse()
	if *dataDir == "" {
		*dataDir = "./gatehouse-data"
	}
	ctx := context.Background()
	st, err := backend.Open(ctx, *database, *dataDir)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	svc := clients.NewService(st, scope.Default(), 30*24*time.Hour, time.Now, rand.Reader)
	start := time.Now()
	for i := 0; i < *n; i++ {
		_, _, err := svc.Create(ctx, "bench-seed", clients.Spec{
			ID: fmt.Sprintf("seed-%05d", i), Name: fmt.Sprintf("seed client %d", i),
			Scopes: []string{"api:read-only", "search"}, Secret: *secret,
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("created %d clients in %s\n", *n, time.Since(start).Round(time.Millisecond))
}
