package poller

import "runtime"

// URingCounts reports the process's io_uring counts: rings open now, opens
// refused, sends the kernel did not take (written with sendmsg), and sends
// it took only in part.
func URingCounts() (open, refused, withdrawn, short int64) {
	return uringOpen.Load(), uringRefused.Load(), uringWithdrawn.Load(), uringShort.Load()
}

// URingWorks reports whether a ring can be opened here. The caller must
// have locked its OS thread.
func URingWorks() bool {
	u := openURing()
	u.close()
	return u != nil
}

// OpenRing gives the hand-driven loop an io_uring, created on the calling
// thread (which must stay locked: it is the ring's only submitter), and
// reports whether the kernel allowed it. It is closed with the test.
func (d *Driver) OpenRing() bool {
	d.l.ring = openURing()
	return d.l.ring != nil
}

// OpenRingElsewhere gives the hand-driven loop a ring created on another
// thread, which then exits: where the kernel took IORING_SETUP_SINGLE_ISSUER
// it refuses every submission from here (EEXIST), so every send is
// withdrawn and written with sendmsg. It reports whether that is so.
func (d *Driver) OpenRingElsewhere() bool {
	done := make(chan *uring)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		done <- openURing()
	}()
	d.l.ring = <-done
	return d.l.ring != nil && d.l.ring.flags&iorSetupSingleIss != 0
}

// CloseRing closes the loop's ring; it writes with send/sendmsg again.
func (d *Driver) CloseRing() {
	d.l.ring.close()
	d.l.ring = nil
}
