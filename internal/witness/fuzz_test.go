package witness

import (
	"net/http"
	"path/filepath"
	"testing"
)

// FuzzAddCheckpoint: any body gets one of the statuses C2SP tlog-witness
// defines (or 413 when too large), never a 500 or a panic, and the size
// the witness holds never goes back.
func FuzzAddCheckpoint(f *testing.F) {
	t := &testing.T{}
	log := newTestLog(t, "nigehban.test/audit")
	log.grow(t, 5, "")
	msg5, _ := log.checkpoint(t)
	f.Add(request(t, log, 0, msg5))
	log.grow(t, 5, "")
	msg10, _ := log.checkpoint(t)
	f.Add(request(t, log, 5, msg10))
	f.Add([]byte("old 0\n\n"))
	w, _ := newWitness(t, filepath.Join(f.TempDir(), "w.json"), log)
	h := w.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		before := w.Size(log.origin)
		code, _, _ := post(t, h, body)
		switch code {
		case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound,
			http.StatusConflict, http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d", code)
		}
		if after := w.Size(log.origin); after < before {
			t.Fatalf("witness went back from %d to %d", before, after)
		}
	})
}
