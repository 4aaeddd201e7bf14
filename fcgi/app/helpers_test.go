package app

import (
	"bufio"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func urlQuery(s string) string { return url.QueryEscape(s) }

func bufioReader(s string) *bufio.Reader { return bufio.NewReaderSize(strings.NewReader(s), 16) }

// writeScript writes an executable shell script (atomically, so that a
// concurrent exec never sees it half written).
func writeScript(t testing.TB, path, body string) {
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	require.NoError(t, os.Rename(tmp, path))
}

func writeFile(t testing.TB, path, body string) {
	require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
}
