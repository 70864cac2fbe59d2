package match

import (
	"context"
	"errors"
	"testing"

	"github.com/nigehban/nigehban/internal/bank"
)

type fakeCategories []struct {
	id  int64
	cat string
}

func (f fakeCategories) SignalCategories(_ context.Context, fn func(int64, string) error) error {
	for _, e := range f {
		if err := fn(e.id, e.cat); err != nil {
			return err
		}
	}
	return nil
}

type failingCategories struct{}

func (failingCategories) SignalCategories(context.Context, func(int64, string) error) error {
	return errors.New("disk on fire")
}

func TestCategories(t *testing.T) {
	var c categories
	// Out of id order on purpose: load must not rely on the store's order.
	st := fakeCategories{{9, "B"}, {2, "A1"}, {5, "A1"}, {7, "C"}}
	if err := c.load(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	c.apply([]bank.Change{
		{Op: bank.OpSignalAdd, Signal: &bank.Signal{ID: 11, Type: bank.MD5, Category: "new"}},
		{Op: bank.OpSignalAdd, Signal: &bank.Signal{ID: 12, Type: bank.VPDQ, Category: "video"}},
		{Op: bank.OpSignalRemove, Signal: &bank.Signal{ID: 5, Type: bank.PDQ, Category: "A1"}},
	})
	for id, want := range map[int64]string{2: "A1", 5: "A1", 7: "C", 9: "B", 11: "new", 12: "", 3: "", 100: ""} {
		if got := c.get(id); got != want {
			t.Errorf("get(%d) = %q, want %q", id, got, want)
		}
	}
	if len(c.names) != 3 || c.size() != 5 {
		t.Errorf("names %v, size %d", c.names, c.size())
	}
	if err := c.load(context.Background(), failingCategories{}); err == nil {
		t.Error("load hid the store's error")
	}
}
