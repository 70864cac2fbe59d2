// Package bank holds the domain of hash banks: named collections of signals
// (known hashes) that curators import, correct and share.
//
// # Model
//
// A Bank has a safe identifier for a name, a description, an enabled flag, a
// default action and a PDQ distance threshold. A Signal is one hash in one
// bank: its type (md5, sha1, sha256, pdq, vpdq), its normalised value and the
// curator's metadata (category, source, note, quality), with who added it and
// when, and — once it is found to be a false positive — who removed it, when
// and why. Signals are never deleted: removal is a change like any other, so
// a bank's history can always be replayed and audited.
//
// # Change log
//
// Every mutation appends to one ordered change log (Change, ops OpBankCreate,
// OpBankUpdate, OpSignalAdd, OpSignalRemove) in the same transaction as the
// mutation itself. Sequence numbers are strictly increasing in commit order:
// a reader that has applied everything up to N asks Changes(since N) and can
// never miss a change that commits later with a smaller number. Replicas and
// partners sync this way.
//
// # Values
//
// Values are normalised before they reach a store: cryptographic hashes and
// PDQ are lower-case hex of the right length (PDQ parsed by pdq.ParseHex);
// vPDQ values are the opaque canonical text of internal/vpdq, validated only
// for size and encoding. Adding a signal that is already active in the bank
// (same type and value) is idempotent: it is counted as unchanged, never an
// error, so re-importing a list is safe.
//
// # Exclusions
//
// A removed signal stays removed: removal puts its type and value on the
// bank's exclusion list (Exclusion: reason, who, when), and adding or
// re-importing an excluded value counts it as excluded (AddCounts.Excluded,
// ImportResult.Excluded; AddSignal returns ErrExcluded) instead of adding
// it back. Curators list exclusions, add them with a reason, and remove one
// to allow its value again.
//
// # Audit
//
// Every change takes the actor who makes it (audit.Actor: a name, and the
// client's address for the API) and the store appends its audit entry in
// the transaction of the change, so the CLI and the API are audited alike
// and a change whose entry cannot be written does not happen. One entry per
// act: bank created or updated, signal added or removed, one per import
// call, exclusion added or removed.
//
// # Storage
//
// Store is the small interface this package needs from a database; the
// engines live in internal/store/sqlite and internal/store/postgres and are
// chosen by store.Open. Service wraps a Store with validation. Callers (the
// CLI, the HTTP API) use Service; engines are checked against one
// conformance suite, internal/store/storetest.
//
// # Import and export
//
// Service.Import streams a hashlist.Reader into a bank in batches, so memory
// does not grow with the list. With ImportOptions.Atomic the whole list is
// one transaction: a bad line (reported with its line number), a read error
// or a cancellation imports nothing. Otherwise each batch commits on its own
// and the result says how much went in. Service.Export streams a bank's
// active signals to any hashlist format and counts, by reason, the signals
// the format cannot hold instead of dropping them silently. Extra fields
// (Signal.Extra: a VICS MediaID, unknown CSV columns) are kept, so exporting
// in the format a list came from reproduces it.
//
// # Matching
//
// Matching lives in internal/match, which builds its indexes by streaming
// the active signals of the chosen banks and follows the change log.
package bank
