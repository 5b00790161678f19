// Command rowlayout measures what a cache miss at the token endpoint costs
// in SQLite with the clients table as it is and with a WITHOUT ROWID copy
// of it (one B-tree descent instead of two), on a copy of a seeded store:
//
//	go run ./bench/rowlayout -db /tmp/gatehouse-1m/gatehouse.db
//
// It copies the database file to a temporary directory, adds the copy of
// the table there, and times, on one connection, reads of random seeded
// clients (seed-NNNNN, bench/seed): the client by primary key, the same
// from the WITHOUT ROWID copy, the client joined with its secrets, and the
// whole statement GetClient runs.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	src := flag.String("db", "", "a seeded store's gatehouse.db (bench/seed, bench/load.sh SEEDED=...)")
	n := flag.Int("n", 1000000, "clients seeded (seed-00000 ... seed-<n-1>)")
	reads := flag.Int("reads", 50000, "reads per statement")
	flag.Parse()
	if *src == "" {
		log.Fatal("rowlayout: -db is required")
	}
	dir, err := os.MkdirTemp("", "rowlayout")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "g.db")
	if err := copyFile(*src, path); err != nil {
		log.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var ddl string
	if err := db.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'clients'`).Scan(&ddl); err != nil {
		log.Fatal(err)
	}
	ddl = strings.Replace(ddl, "CREATE TABLE clients", "CREATE TABLE clients_wr", 1) + ", WITHOUT ROWID"
	if _, err := db.Exec(ddl + "; INSERT INTO clients_wr SELECT * FROM clients"); err != nil {
		log.Fatal(err)
	}
	var cols []string
	rows, err := db.Query(`SELECT name FROM pragma_table_info('clients')`)
	if err != nil {
		log.Fatal(err)
	}
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, "c."+c)
	}
	rows.Close()
	all := strings.Join(cols, ", ")
	for _, q := range []struct{ name, sql string }{
		{"client by primary key", `SELECT c.id, c.name, c.scopes FROM clients c WHERE c.id = ?`},
		{"the same, WITHOUT ROWID", `SELECT c.id, c.name, c.scopes FROM clients_wr c WHERE c.id = ?`},
		{"with its secrets", `SELECT c.id, c.name, c.scopes, s.id, s.digest, s.expires_at FROM clients c
			LEFT JOIN client_secrets s ON s.client_id = c.id WHERE c.id = ?`},
		{"GetClient's statement", `SELECT ` + all + `, COALESCE(s.id, ''), s.digest, COALESCE(s.hint, ''),
			s.created_at, s.expires_at, s.last_used_at FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.id
			WHERE c.id = ? ORDER BY s.created_at NULLS FIRST, s.seq`},
	} {
		st, err := db.Prepare(q.sql)
		if err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		for range *reads {
			rows, err := st.Query(fmt.Sprintf("seed-%05d", rand.IntN(*n)))
			if err != nil {
				log.Fatal(err)
			}
			cols, _ := rows.Columns()
			dest := make([]any, len(cols))
			for i := range dest {
				dest[i] = new(any)
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					log.Fatal(err)
				}
			}
			rows.Close()
		}
		st.Close()
		fmt.Printf("%-24s %6.1f µs a read\n", q.name, float64(time.Since(start).Microseconds())/float64(*reads))
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
