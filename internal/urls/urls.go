// Package urls checks the URLs the configuration and the clients accept.
package urls

import (
	"fmt"
	"net"
	"net/url"
)

// HTTPS parses raw and requires an absolute https URL with a host.
func HTTPS(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("not an absolute https URL: %q", raw)
	}
	return u, nil
}

// IsLoopback reports whether raw — a URL or a bare host name — points at this machine (localhost or a loopback
// address): a local stand-in, which Entra's instance discovery does not know.
func IsLoopback(raw string) bool {
	host := raw
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
