// Package ffb is a pure-Go client of an ffi-bridge server: it calls named
// C or Rust callbacks in another process through a shared-memory session
// arena (a sealed memfd) holding two single-producer single-consumer
// rings and two heaps of generation-tagged blocks. No cgo is involved: the
// package builds and runs with CGO_ENABLED=0.
//
// A Client is made by Dial, which performs the handshake over a Unix
// SOCK_SEQPACKET socket, checks the received memfd (seals, size) before
// mapping it, and validates the arena layout. Request payloads are Buffers
// allocated in the arena (Alloc, FromBytes, FromJSON); Bytes returns a
// slice over the mapped memory, so an echo of 16 MiB moves a handle, not
// the bytes. Calls are made with Invoke, InvokeJSON, Echo and Version,
// pipelined with Submit and Call.Wait, or run many at a time with
// CallBatch (one publish per group of entries, results collected in bulk,
// no per-call wake-up: the cheapest way to make many calls). A Client is
// safe for concurrent use
// by many goroutines; a Buffer is not (one goroutine at a time).
//
// # Error contract
//
// Every error produced by this package is, or wraps, an *Error carrying a
// Code from the stable ffi-bridge status table (the same values as the C
// header include/ffb_status.h) and an optional Message; a callback's own
// failure arrives as the code and UTF-8 message the server sent. Test
// errors with errors.Is against the sentinels (ErrNotFound, ErrTimeout,
// ErrPanic, ErrPeerGone, ErrStaleHandle, ...), which match any *Error of
// the same Code, or with errors.As to read Code and Message. A context
// deadline yields TIMEOUT; a server that dies or disconnects yields
// PEER_GONE (or the status of its goodbye message) for every pending and
// every later call; a closed Client yields CLOSED. Nothing in this package
// panics on data written by the server: malformed shared state fails the
// session with PROTOCOL.
package ffb
