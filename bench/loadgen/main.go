// Command loadgen drives a running `nigehban serve` on loopback for a
// bounded time and reports requests per second and latency percentiles:
// match-by-hash (one PDQ hash per request) and match-by-upload (a JPEG).
// bench/serve-load builds the bank and starts the server around it.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080", "server")
	key := flag.String("key", "", "API key")
	hashes := flag.String("hashes", "", "file of bank hashes (queries are near-duplicates of some, random others)")
	upload := flag.String("upload", "", "JPEG to upload (match-by-upload); empty: match-by-hash")
	conns := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	flag.Parse()

	var bank []string
	if *hashes != "" {
		b, err := os.ReadFile(*hashes)
		if err != nil {
			fail(err)
		}
		bank = strings.Fields(string(b))
	}
	var file []byte
	if *upload != "" {
		var err error
		if file, err = os.ReadFile(*upload); err != nil {
			fail(err)
		}
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var mu sync.Mutex
	var lat []time.Duration
	var errs, matched int
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for c := range *conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			var local []time.Duration
			localErr, localMatched := 0, 0
			for time.Now().Before(stop) {
				var req *http.Request
				if file != nil {
					var buf bytes.Buffer
					mw := multipart.NewWriter(&buf)
					fw, _ := mw.CreateFormFile("file", "upload.jpg")
					fw.Write(file)
					mw.Close()
					req, _ = http.NewRequest("POST", *url+"/v1/match", &buf)
					req.Header.Set("Content-Type", mw.FormDataContentType())
				} else {
					q := query(rng, bank)
					req, _ = http.NewRequest("POST", *url+"/v1/match", strings.NewReader(`{"signals":[{"type":"pdq","value":"`+q+`"}]}`))
					req.Header.Set("Content-Type", "application/json")
				}
				req.Header.Set("Authorization", "Bearer "+*key)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					localErr++
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				local = append(local, time.Since(t0))
				if resp.StatusCode != 200 {
					localErr++
					continue
				}
				var out struct {
					Matches []json.RawMessage `json:"matches"`
				}
				if json.Unmarshal(body, &out) == nil && len(out.Matches) > 0 {
					localMatched++
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			errs += localErr
			matched += localMatched
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		fail(fmt.Errorf("no request completed (%d errors)", errs))
	}
	kind := "match-by-hash"
	if file != nil {
		kind = "match-by-upload"
	}
	fmt.Printf("%s: %d requests in %v with %d connections: %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors, %d with matches\n",
		kind, len(lat), *dur, *conns, float64(len(lat))/dur.Seconds(),
		ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), errs, matched)
}

// query returns a near-duplicate of a bank hash (a few bits flipped) half
// the time, a random hash otherwise.
func query(rng *rand.Rand, bank []string) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 64)
	if len(bank) > 0 && rng.IntN(2) == 0 {
		copy(b, bank[rng.IntN(len(bank))])
		for range rng.IntN(4) {
			i := rng.IntN(64)
			b[i] = hexd[rng.IntN(16)]
		}
		return string(b)
	}
	for i := range b {
		b[i] = hexd[rng.IntN(16)]
	}
	return string(b)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
