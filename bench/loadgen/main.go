// Command loadgen drives a running `nigehban serve` on loopback for a
// bounded time and reports requests per second and latency percentiles:
// match-by-hash (one PDQ hash per request) and match-by-upload (a JPEG).
// bench/serve-load builds the bank and starts the server around it.
//
// Like wrk, it is a lean HTTP/1.1 client: each connection writes prepared
// requests and parses the answers' status line and length itself, so on a
// small machine most of the CPU goes to the server under test. It also
// reports the CPU time both processes spent per request (the server's from
// /proc/PID/stat with -pid), which says what throughput the machine would
// reach without other load — the wall-clock rate depends on what else runs.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080", "server")
	key := flag.String("key", "", "API key")
	hashes := flag.String("hashes", "", "file of bank hashes (queries are near-duplicates of some, random others)")
	near := flag.Float64("near", 0.5, "share of hash queries that are near-duplicates of bank hashes (the rest are random)")
	upload := flag.String("upload", "", "JPEG to upload (match-by-upload); empty: match-by-hash")
	conns := flag.Int("c", 32, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	pid := flag.Int("pid", 0, "server process id, to report its CPU time per request")
	flag.Parse()

	u, err := url.Parse(*target)
	if err != nil || u.Host == "" {
		fail(fmt.Errorf("bad -url %q", *target))
	}
	reqs, err := requests(u.Host, *key, *hashes, *near, *upload)
	if err != nil {
		fail(err)
	}
	kind := "match-by-hash"
	if *upload != "" {
		kind = "match-by-upload"
	}

	var mu sync.Mutex
	var lat []time.Duration
	var errs, matched int
	var firstErr error
	cpu0, srv0 := selfCPU(), procCPU(*pid)
	start := time.Now()
	stop := start.Add(*dur)
	var wg sync.WaitGroup
	for c := range *conns {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1<<16)
			nerr, nmatch := 0, 0
			var lerr error
			defer func() {
				mu.Lock()
				lat = append(lat, local...)
				errs += nerr
				matched += nmatch
				if firstErr == nil {
					firstErr = lerr
				}
				mu.Unlock()
			}()
			var conn net.Conn
			var br *bufio.Reader
			body := make([]byte, 0, 64<<10)
			i := c * 7919
			for time.Now().Before(stop) {
				if conn == nil {
					var err error
					if conn, err = net.Dial("tcp", u.Host); err != nil {
						nerr, lerr = nerr+1, err
						time.Sleep(10 * time.Millisecond)
						continue
					}
					br = bufio.NewReaderSize(conn, 64<<10)
				}
				req := reqs[i%len(reqs)]
				i++
				t0 := time.Now()
				status, b, err := roundTrip(conn, br, req, body[:0])
				if errors.Is(err, errClosing) { // a whole answer, then the server closes
					conn.Close()
					conn, err = nil, nil
				}
				if err != nil {
					conn.Close()
					conn = nil
					nerr, lerr = nerr+1, err
					continue
				}
				body = b
				local = append(local, time.Since(t0))
				if status != 200 {
					nerr++
					if lerr == nil {
						lerr = fmt.Errorf("status %d: %.200s", status, b)
					}
					continue
				}
				if bytes.Contains(b, []byte(`"matches":[{`)) {
					nmatch++
				}
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	cpu1, srv1 := selfCPU(), procCPU(*pid)
	if len(lat) == 0 {
		fail(fmt.Errorf("no request completed (%d errors, first: %v)", errs, firstErr))
	}
	slices.Sort(lat)
	n := len(lat)
	fmt.Printf("%s: %d requests in %v with %d connections: %.0f req/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors, %d with matches\n",
		kind, n, wall.Round(time.Millisecond), *conns, float64(n)/wall.Seconds(),
		ms(lat[n/2]), ms(lat[n*99/100]), ms(lat[n-1]), errs, matched)
	if errs > 0 {
		fmt.Printf("  first error: %v\n", firstErr)
	}
	gen := (cpu1 - cpu0).Seconds() / float64(n) * 1e6
	line := fmt.Sprintf("  CPU per request: load generator %.1f µs", gen)
	if *pid > 0 && srv1 >= srv0 {
		srv := (srv1 - srv0).Seconds() / float64(n) * 1e6
		cores := runtime.NumCPU()
		line += fmt.Sprintf(", server %.1f µs; both on %d cores: ≈ %.0f req/s if nothing else ran", srv, cores, float64(cores)*1e6/(srv+gen))
	}
	fmt.Println(line)
}

// requests prepares the raw HTTP requests the connections cycle through.
func requests(host, key, hashFile string, near float64, upload string) ([][]byte, error) {
	head := func(ct string, n int) string {
		return "POST /v1/match HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + key +
			"\r\nContent-Type: " + ct + "\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n"
	}
	if upload != "" {
		file, err := os.ReadFile(upload)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "upload.jpg")
		fw.Write(file)
		mw.Close()
		return [][]byte{append([]byte(head(mw.FormDataContentType(), buf.Len())), buf.Bytes()...)}, nil
	}
	var bank []string
	if hashFile != "" {
		b, err := os.ReadFile(hashFile)
		if err != nil {
			return nil, err
		}
		bank = strings.Fields(string(b))
	}
	rng := rand.New(rand.NewPCG(1, 7))
	out := make([][]byte, 1<<16)
	for i := range out {
		body := `{"signals":[{"type":"pdq","value":"` + query(rng, bank, near) + `"}]}`
		out[i] = []byte(head("application/json", len(body)) + body)
	}
	return out, nil
}

// query returns a near-duplicate of a bank hash (up to 3 hex digits
// changed: at most 12 bits) with probability near, a random hash otherwise.
func query(rng *rand.Rand, bank []string, near float64) string {
	const hexd = "0123456789abcdef"
	b := make([]byte, 64)
	if len(bank) > 0 && rng.Float64() < near {
		copy(b, bank[rng.IntN(len(bank))])
		for range rng.IntN(4) {
			b[rng.IntN(64)] = hexd[rng.IntN(16)]
		}
		return string(b)
	}
	for i := range b {
		b[i] = hexd[rng.IntN(16)]
	}
	return string(b)
}

// errClosing says the answer was whole but the server closes the connection.
var errClosing = errors.New("server closes the connection")

// roundTrip writes req and reads one response (Content-Length or chunked).
func roundTrip(conn net.Conn, br *bufio.Reader, req, body []byte) (int, []byte, error) {
	if _, err := conn.Write(req); err != nil {
		return 0, nil, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, nil, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, nil, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := -1, false, false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, nil, err
		}
		if len(h) <= 2 {
			break
		}
		name, value, _ := bytes.Cut(bytes.TrimSpace(h), []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		for {
			l, err := br.ReadSlice('\n')
			if err != nil {
				return 0, nil, err
			}
			n, err := strconv.ParseInt(strings.TrimSpace(string(l)), 16, 32)
			if err != nil {
				return 0, nil, fmt.Errorf("bad chunk size %q", l)
			}
			if n == 0 {
				if _, err := br.ReadSlice('\n'); err != nil {
					return 0, nil, err
				}
				break
			}
			body = slices.Grow(body, int(n)+2)
			chunk := body[len(body) : len(body)+int(n)+2]
			if _, err := io.ReadFull(br, chunk); err != nil {
				return 0, nil, err
			}
			body = body[:len(body)+int(n)]
		}
	case length >= 0:
		body = slices.Grow(body, length)[:length]
		if _, err := io.ReadFull(br, body); err != nil {
			return 0, nil, err
		}
	default:
		return 0, nil, errors.New("response without a length")
	}
	if closing {
		return status, body, errClosing
	}
	return status, body, nil
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is another process's user+system CPU time (Linux), 0 if unknown.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields, in clock ticks (100 a second on Linux).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}
