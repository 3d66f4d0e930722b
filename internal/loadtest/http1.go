package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// response is what the generator needs of an HTTP/1.1 response.
type response struct {
	status    int
	sessionID string // Mcp-Session-Id
	body      []byte // valid until the next readResponse into the same buffer
}

// readResponse reads one HTTP/1.1 response (Content-Length or chunked body) from br into buf.
// net/http's ReadResponse costs the generator ~30 µs a call (a header map, a textproto reader,
// a body reader): on 2 shared cores that CPU is taken from the server under test.
func readResponse(br *bufio.Reader, buf *bytes.Buffer) (response, error) {
	var r response
	line, err := br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, fmt.Errorf("not an HTTP/1.x status line: %q", line)
	}
	if r.status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return r, fmt.Errorf("status line %q: %w", line, err)
	}
	length, chunked := -1, false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return r, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return r, fmt.Errorf("header line %q", line)
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(v)); err != nil || length < 0 {
				return r, fmt.Errorf("Content-Length %q", v)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Mcp-Session-Id")):
			r.sessionID = string(v)
		}
	}
	buf.Reset()
	switch {
	case chunked:
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return r, err
			}
			size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
			n, err := strconv.ParseUint(string(size), 16, 31)
			if err != nil {
				return r, fmt.Errorf("chunk size %q", line)
			}
			if n == 0 { // trailers, then the blank line
				for {
					if line, err = br.ReadSlice('\n'); err != nil {
						return r, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 {
						break
					}
				}
				break
			}
			if _, err := io.CopyN(buf, br, int64(n)); err != nil {
				return r, err
			}
			if _, err := br.Discard(2); err != nil { // the chunk's CRLF
				return r, err
			}
		}
	case length >= 0:
		if _, err := io.CopyN(buf, br, int64(length)); err != nil {
			return r, err
		}
	case r.status == 204 || r.status == 304 || r.status/100 == 1:
	default:
		return r, fmt.Errorf("HTTP %d without Content-Length or chunking (the generator needs keep-alive framing)", r.status)
	}
	r.body = buf.Bytes()
	return r, nil
}
