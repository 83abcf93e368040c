// Package rules holds the per-channel rules of a configuration file's
// [[channel]] tables and finds the rule for a channel name.
//
// A rule's Match is an exact channel name ("news") or a prefix ending in
// "*" ("user:*" matches "user:42" and "user:", not "use"). Rules are tried
// in the order they were written and the first that matches wins; a
// channel no rule matches gets the server-wide settings. Each setting of a
// rule is optional: a nil pointer or an empty list means "as the
// server-wide flag says", so a rule only overrides what it names.
//
// A Set is immutable once compiled and safe for concurrent use: loops look
// up rules when a stream or poll starts, publishers when they publish, and
// a reload swaps in a new Set rather than changing one. Lookup does not
// allocate.
package rules
