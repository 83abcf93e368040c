package httpmin

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
)

// PROXY protocol limits: a v1 header is one line of at most 107 bytes; a
// v2 header is 16 bytes plus its announced length, which ssedge bounds.
const (
	MaxProxyV1 = 107
	MaxProxyV2 = 16 + 512
)

// Refusals of a PROXY protocol header (all 400).
var (
	ErrNoProxyHeader = refusal(400, "this listener expects a PROXY protocol header (v1 or v2) before the request")
	ErrBadProxy      = refusal(400, "malformed PROXY protocol header")
)

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// ParseProxy parses a PROXY protocol header (v1 or v2, as HAProxy
// specifies it) at the start of buf. It returns the header's length and the
// source address it announces; src is not valid for "UNKNOWN" (v1) or
// LOCAL / non-IP (v2) headers, in which case the connection's own peer
// address stands. ErrNeedMore: a valid prefix. It does not allocate.
func ParseProxy(buf []byte) (n int, src netip.AddrPort, err error) {
	switch {
	case len(buf) == 0:
		return 0, src, ErrNeedMore
	case buf[0] == '\r':
		return parseProxyV2(buf)
	case buf[0] == 'P':
		return parseProxyV1(buf)
	}
	return 0, src, ErrNoProxyHeader
}

func parseProxyV1(buf []byte) (int, netip.AddrPort, error) {
	var src netip.AddrPort
	const prefix = "PROXY "
	if k := min(len(buf), len(prefix)); string(buf[:k]) != prefix[:k] {
		return 0, src, ErrNoProxyHeader
	}
	end := bytes.Index(buf[:min(len(buf), MaxProxyV1)], []byte("\r\n"))
	if end < 0 {
		if len(buf) >= MaxProxyV1 {
			return 0, src, ErrBadProxy
		}
		return 0, src, ErrNeedMore
	}
	f := buf[len(prefix):end]
	proto, rest, _ := bytes.Cut(f, []byte{' '})
	if string(proto) == "UNKNOWN" {
		return end + 2, src, nil
	}
	if string(proto) != "TCP4" && string(proto) != "TCP6" {
		return 0, src, ErrBadProxy
	}
	var parts [4][]byte
	for i := range parts {
		var p []byte
		p, rest, _ = bytes.Cut(rest, []byte{' '})
		parts[i] = p
	}
	if len(rest) != 0 {
		return 0, src, ErrBadProxy
	}
	addr, err := netip.ParseAddr(string(parts[0])) // strings of at most 39 bytes; the compiler does not allocate for this conversion in practice
	if err != nil || addr.Is4() != (string(proto) == "TCP4") || addr.Zone() != "" {
		return 0, src, ErrBadProxy
	}
	if _, err := netip.ParseAddr(string(parts[1])); err != nil {
		return 0, src, ErrBadProxy
	}
	port, err := strconv.ParseUint(string(parts[2]), 10, 16)
	if err != nil || len(parts[2]) > 1 && parts[2][0] == '0' {
		return 0, src, ErrBadProxy
	}
	if _, err := strconv.ParseUint(string(parts[3]), 10, 16); err != nil {
		return 0, src, ErrBadProxy
	}
	return end + 2, netip.AddrPortFrom(addr.Unmap(), uint16(port)), nil
}

func parseProxyV2(buf []byte) (int, netip.AddrPort, error) {
	var src netip.AddrPort
	if k := min(len(buf), len(proxyV2Sig)); !bytes.Equal(buf[:k], proxyV2Sig[:k]) {
		return 0, src, ErrNoProxyHeader
	}
	if len(buf) < 16 {
		return 0, src, ErrNeedMore
	}
	verCmd, fam := buf[12], buf[13]
	size := int(binary.BigEndian.Uint16(buf[14:16]))
	if verCmd>>4 != 2 || verCmd&0xf > 1 || 16+size > MaxProxyV2 {
		return 0, src, ErrBadProxy
	}
	if len(buf) < 16+size {
		return 0, src, ErrNeedMore
	}
	body := buf[16 : 16+size]
	if verCmd&0xf == 0 { // LOCAL: a health check from the proxy itself
		return 16 + size, src, nil
	}
	switch fam {
	case 0x11, 0x12: // TCP or UDP over IPv4
		if len(body) < 12 {
			return 0, src, ErrBadProxy
		}
		addr := netip.AddrFrom4([4]byte(body[0:4]))
		return 16 + size, netip.AddrPortFrom(addr, binary.BigEndian.Uint16(body[8:10])), nil
	case 0x21, 0x22: // over IPv6
		if len(body) < 36 {
			return 0, src, ErrBadProxy
		}
		addr := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		return 16 + size, netip.AddrPortFrom(addr, binary.BigEndian.Uint16(body[32:34])), nil
	}
	return 16 + size, src, nil // AF_UNIX or unspecified: keep the peer address
}
