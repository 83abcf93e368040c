package tuning

// Test seams.
var (
	ReadKeys = readKeys
	RTOTotal = rtoTotal
)
