package main

import "testing"

// The parsers of what the storm and the kernel figures read, on text as
// this kernel writes it.
func TestParseKernelTables(t *testing.T) {
	q := parseSSListen([]byte("LISTEN 12   65535   127.0.0.1:18080   0.0.0.0:*\nLISTEN 0 65535 127.0.0.1:18080 0.0.0.0:*\n"))
	if len(q) != 2 || q[0] != (listenQueue{12, 65535}) || q[1].recvQ != 0 {
		t.Errorf("ss listen queues %+v", q)
	}
	ns, err := parseNetstat([]byte("TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 3 7 9\nIpExt: InNoRoutes\nIpExt: 1\n"), "TcpExt:")
	if err != nil || ns["ListenOverflows"] != 7 || ns["ListenDrops"] != 9 || ns["SyncookiesSent"] != 3 {
		t.Errorf("netstat %v, %v", ns, err)
	}
	st, err := parseSockstat([]byte("sockets: used 390\nTCP: inuse 30003 orphan 0 tw 46450 alloc 30010 mem 388\nUDP: inuse 2 mem 1\n"), "TCP:")
	if err != nil || st["inuse"] != 30003 || st["tw"] != 46450 || st["mem"] != 388 {
		t.Errorf("sockstat %v, %v", st, err)
	}
	slab := []byte("slabinfo - version: 2.1\n# name <active_objs> ...\nTCP 20054 24544 2368 13 8 : tunables 0 0 0\nfilp 100 200 192 21 1 : x\nkmalloc-64 5 5 64 64 1 : x\n")
	if got := socketSlab(slab); got != 20054*2368+100*192 {
		t.Errorf("socket slab %d, want the TCP and filp caches' active objects", got)
	}
}
