// Package auth decides who may subscribe to private channels.
//
// A channel is private when its name starts with one of the configured
// prefixes (Config.Prefixes, e.g. "private-" or "user:"); every other
// channel is public and needs nothing. A subscriber to a private channel
// presents a JWT; Verifier.Verify checks it and returns a Grant, and
// Grant.Allows says whether that grant covers one channel name.
//
// Tokens:
//
//   - Signed with HS256 (a shared secret of at least MinSecretBytes read
//     from a file), RS256 (an RSA public key of at least 2048 bits) or ES256
//     (an ECDSA P-256 public key), PEM in a file. Only the algorithms whose
//     key is configured are accepted; "none", every other algorithm, and an
//     algorithm whose key family is not configured (the HS256-signed-with-
//     the-RSA-public-key confusion) are refused before any signature check.
//   - "exp" is required and enforced with no leeway: a token is expired at
//     and after its exp second. "nbf" and "iat", when present, must not be
//     in the future.
//   - "channels" is required: a JSON array of exact channel names, or
//     patterns ending in "*" that match every name starting with the part
//     before the "*" ("private-*" matches "private-a" and also "private-",
//     but not "private"). "*" anywhere but at the end, and empty entries,
//     make the token invalid, so a back end's mistake shows up at once.
//   - A token longer than MaxTokenBytes is refused unparsed.
//
// Errors and status codes, for callers on the subscribe path:
//
//	no token                      ErrNoToken        401
//	malformed, bad signature,
//	wrong alg, not yet valid      ErrInvalidToken   401
//	expired                       ErrExpired        401
//	valid, but Allows(ch) false   (caller's check)  403
//
// Every error wraps one of those sentinels (branch with errors.Is) and adds
// a reason a person can act on. No error text ever contains the token, so
// errors may be logged and sent to the client as they are.
//
// Key rotation: Verifier.WithPrevious keeps the keys in force before a
// reload accepted for an overlap, so tokens signed with the old HS256
// secret or private key still verify while issuers switch. Only a token
// the new keys refuse for its signature or algorithm is tried with the
// old ones, and only until the overlap ends; at most two key sets are in
// force at once.
//
// Invariants:
//
//   - A Verifier and a Grant are immutable after New and Verify return;
//     both are safe for concurrent use by any number of goroutines.
//   - Verifier.Private and Grant.Allows are allocation-free and nil-safe:
//     a nil *Verifier (what New returns when no prefix is configured) has
//     no private channels, and a nil *Grant allows nothing.
//   - Grant.Allows scans the grant's entries linearly; a token carries a
//     handful of channels, and Verify refuses more than MaxGrantChannels.
package auth
