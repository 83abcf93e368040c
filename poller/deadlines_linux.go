package poller

// deadlines is a min-heap of connection deadlines (request head, lingering
// close, long-poll), owned by one loop. Entries are not removed when a
// connection's deadline changes or it closes: a popped entry counts only if
// the connection still has that generation and that deadline.
type deadlines []deadline

func (h *deadlines) push(d deadline) {
	*h = append(*h, d)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if q[p].at <= q[i].at {
			break
		}
		q[p], q[i] = q[i], q[p]
		i = p
	}
}

// next is the earliest deadline; ok is false when there is none.
func (h deadlines) next() (at int64, ok bool) {
	if len(h) == 0 {
		return 0, false
	}
	return h[0].at, true
}

func (h *deadlines) pop() deadline {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = deadline{}
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].at < q[m].at {
			m = l
		}
		if r < len(q) && q[r].at < q[m].at {
			m = r
		}
		if m == i {
			break
		}
		q[m], q[i] = q[i], q[m]
		i = m
	}
	*h = q
	return top
}
