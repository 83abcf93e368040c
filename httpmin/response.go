package httpmin

import "strconv"

// StatusText returns the reason phrase for the statuses ssedge answers
// with, or "" for others.
func StatusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 204:
		return "No Content"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 411:
		return "Length Required"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 505:
		return "HTTP Version Not Supported"
	}
	return ""
}

// AppendError appends a complete HTTP/1.1 error response to dst: the status
// line, a text/plain body of reason and a newline (StatusText(status) when
// reason is empty), Content-Length, and Connection: close, or keep-alive
// when keepAlive is true. A 405 carries "Allow: allow" when allow is not
// empty; a 401 carries the WWW-Authenticate challenge RFC 9110 requires
// (Bearer, the scheme of ssedge's tokens); a 429 or 503 carries
// Retry-After. The reason goes only into the body, so no text in it can add a
// header; allow is written as is and must be a constant list such as
// "GET, HEAD, OPTIONS".
func AppendError(dst []byte, status int, reason string, keepAlive bool, allow string) []byte {
	return AppendErrorHeaders(dst, status, reason, keepAlive, allow, nil)
}

// AppendErrorHeaders is AppendError with extra header lines (each ending
// in CRLF, built by the caller from trusted values), such as the CORS
// headers that let a cross-origin page read the reason.
func AppendErrorHeaders(dst []byte, status int, reason string, keepAlive bool, allow string, extra []byte) []byte {
	if reason == "" {
		reason = StatusText(status)
	}
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, StatusText(status)...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(reason)+1), 10)
	if keepAlive {
		dst = append(dst, "\r\nConnection: keep-alive\r\n"...)
	} else {
		dst = append(dst, "\r\nConnection: close\r\n"...)
	}
	if status == 405 && allow != "" {
		dst = append(dst, "Allow: "...)
		dst = append(dst, allow...)
		dst = append(dst, "\r\n"...)
	}
	if status == 401 {
		dst = append(dst, "WWW-Authenticate: Bearer realm=\"ssedge\"\r\n"...)
	}
	if status == 429 || status == 503 {
		// A limit or an overload: tell clients (and EventSource-less
		// retry loops) to come back later rather than at once.
		dst = append(dst, "Retry-After: 5\r\n"...)
	}
	dst = append(dst, extra...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, reason...)
	return append(dst, '\n')
}
