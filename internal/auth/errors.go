package auth

import "errors"

// Errors from Verify. Each is returned wrapped with a reason; callers branch
// with errors.Is. All three mean 401 on the subscribe path.
var (
	ErrNoToken      = errors.New("auth: no token")
	ErrInvalidToken = errors.New("auth: invalid token")
	ErrExpired      = errors.New("auth: token expired")
)

// Errors from New and Mint, wrapped with the file or value at fault.
var (
	ErrNoKey      = errors.New("auth: no key configured")
	ErrWeakSecret = errors.New("auth: secret too short")
	ErrBadKey     = errors.New("auth: unusable public key")
	ErrBadGrant   = errors.New("auth: bad channel list")
)
