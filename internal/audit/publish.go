package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// ConsistencyProof returns the RFC 6962 consistency proof from the tree of
// oldSize leaves to the tree of newSize leaves in hs (empty when oldSize is
// 0 or equal to newSize).
func ConsistencyProof(ctx context.Context, hs HashStore, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize == 0 || oldSize == newSize {
		return nil, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, Reader(ctx, hs))
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d→%d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// WitnessClient asks one witness to cosign a checkpoint (C2SP
// tlog-witness); internal/witness.Client implements it.
type WitnessClient interface {
	// Name names the witness in logs.
	Name() string
	// Cosign submits the signed checkpoint msg (parsed: c), with a
	// consistency proof from the witness's last size computed from hs, and
	// returns the witness's signature lines.
	Cosign(ctx context.Context, hs HashStore, msg []byte, c Checkpoint) ([]byte, error)
}

// Log signs and publishes checkpoints of the audit log in st: it signs the
// tree when it grew, asks the witnesses to cosign, and stores the
// checkpoint with every cosignature it got (what GET /log/checkpoint
// serves).
type Log struct {
	Store     LogStore
	Signer    *Signer
	Witnesses []WitnessClient
	Logger    *slog.Logger
	// BeforeSign, if set, runs before each checkpoint is considered, so
	// that what it appends to the log (the change log's commitments, which
	// partners check their pages against) is in the checkpoint. Its error
	// is logged; the checkpoint is signed anyway.
	BeforeSign func(ctx context.Context) error
}

// Checkpoint signs, cosigns and stores a checkpoint of the current tree if
// it grew since the latest stored one (or force is set), and returns the
// latest stored checkpoint.
func (l *Log) Checkpoint(ctx context.Context, force bool) ([]byte, error) {
	if l.BeforeSign != nil {
		if err := l.BeforeSign(ctx); err != nil {
			l.logger().WarnContext(ctx, "before signing a checkpoint", "err", err)
		}
	}
	size, err := l.Store.TreeSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("log tree size: %w", err)
	}
	latest, err := l.Store.LatestCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("latest checkpoint: %w", err)
	}
	if latest != nil && !force && l.complete(latest, size) {
		return latest, nil
	}
	msg, err := l.Signer.Sign(ctx, l.Store, size)
	if err != nil {
		return nil, err
	}
	c := l.Signer.Last()
	cosigned := 0
	for _, w := range l.Witnesses {
		sigs, err := w.Cosign(ctx, l.Store, msg, c)
		if err != nil {
			l.logger().WarnContext(ctx, "witness refused or unreachable", "witness", w.Name(), "size", c.Size, "err", err)
			continue
		}
		msg = append(msg, sigs...)
		cosigned++
	}
	if err := l.Store.SaveCheckpoint(ctx, c.Size, msg); err != nil {
		return nil, fmt.Errorf("save checkpoint: %w", err)
	}
	l.logger().InfoContext(ctx, "audit log checkpoint signed", "origin", c.Origin, "size", c.Size, "root", c.Hash.String(), "cosigned", cosigned, "witnesses", len(l.Witnesses))
	return msg, nil
}

// Run signs a checkpoint every interval until ctx ends; errors are logged
// (a refusal to sign an inconsistent tree is logged as an error and
// repeats: an operator must look).
func (l *Log) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := l.Checkpoint(ctx, false); err != nil && !errors.Is(err, context.Canceled) {
			l.logger().ErrorContext(ctx, "audit log checkpoint", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// complete reports whether msg is a checkpoint of size entries that every
// witness has cosigned.
func (l *Log) complete(msg []byte, size int64) bool {
	text, sigs, err := SplitNote(msg)
	if err != nil {
		return false
	}
	if c, err := ParseCheckpoint(text); err != nil || c.Size != size {
		return false
	}
	for _, w := range l.Witnesses {
		if !slices.ContainsFunc(sigs, func(s string) bool { return strings.HasPrefix(s, "— "+w.Name()+" ") }) {
			return false
		}
	}
	return true
}

func (l *Log) logger() *slog.Logger {
	if l.Logger == nil {
		return slog.Default()
	}
	return l.Logger
}
