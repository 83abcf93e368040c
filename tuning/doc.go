// Package tuning adapts the process and the kernel to many sockets.
//
// So far it raises RLIMIT_NOFILE from its soft to its hard limit at start
// and reports both, so the server can say how many connections it can hold
// and how to raise the limit when that is too few.
package tuning
