package exchange

// ScanNCMEC is the decoder's fast path (ok false: it gave up and
// encoding/xml decides), for the differential tests of package
// exchange_test.
var ScanNCMEC = scanNCMEC

// DecodeNCMEC is the decoder GET /v2/entries answers go through.
var DecodeNCMEC = decodeNCMEC
