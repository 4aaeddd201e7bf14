// Package vectors loads the packet captures in testdata (bytes from a real
// FastDFS V6.16.1 exchange, described in testdata/README.md) so tests can
// replay them.
package vectors

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"yunpan/dfs/proto"
)

// Packet is one captured FastDFS packet.
type Packet struct {
	FromClient bool
	Header     proto.Header
	Body       []byte
}

// Conn is one captured TCP connection.
type Conn struct {
	Client, Server string // "ip:port"
	Packets        []Packet
}

// Scenario is one capture file.
type Scenario struct {
	Name    string
	Command string
	Exit    string
	Output  []string // the lines the command printed
	Conns   []Conn
}

// Dir is the folder of the captures: testdata next to this source file, so
// tests of any package find them wherever the repository was cloned.
func Dir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("vectors: cannot locate the package source")
	}
	d := filepath.Join(filepath.Dir(file), "testdata")
	if _, err := os.Stat(d); err != nil {
		return "", fmt.Errorf("vectors: %w", err)
	}
	return d, nil
}

// Load reads the scenario file whose name starts with prefix, e.g. "01".
func Load(prefix string) (*Scenario, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	m, _ := filepath.Glob(filepath.Join(dir, prefix+"*.txt"))
	if len(m) != 1 {
		return nil, fmt.Errorf("vectors: %d files match %q in %s", len(m), prefix, dir)
	}
	return Parse(m[0])
}

// Parse reads one capture file.
func Parse(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &Scenario{Name: strings.TrimSuffix(filepath.Base(path), ".txt")}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# command: "):
			s.Command = strings.TrimPrefix(line, "# command: ")
		case strings.HasPrefix(line, "# exit status: "):
			s.Exit = strings.TrimPrefix(line, "# exit status: ")
		case strings.HasPrefix(line, "# stdout+stderr: "), line == "# stdout+stderr:":
			s.Output = append(s.Output, strings.TrimPrefix(strings.TrimPrefix(line, "# stdout+stderr:"), " "))
		case strings.HasPrefix(line, "# connection: client "):
			// "# connection: client A -> server B"
			parts := strings.Fields(strings.TrimPrefix(line, "# connection: "))
			if len(parts) != 5 {
				return nil, fmt.Errorf("%s: bad connection line %q", path, line)
			}
			s.Conns = append(s.Conns, Conn{Client: parts[1], Server: parts[4]})
		case strings.HasPrefix(line, "C "), strings.HasPrefix(line, "S "):
			if len(s.Conns) == 0 {
				return nil, fmt.Errorf("%s: packet before any connection", path)
			}
			hdrHex, bodyHex, ok := strings.Cut(line[2:], "|")
			if !ok {
				return nil, fmt.Errorf("%s: bad packet line %q", path, line)
			}
			hb, err := hex.DecodeString(strings.TrimSpace(hdrHex))
			if err != nil {
				return nil, fmt.Errorf("%s: header hex: %w", path, err)
			}
			h, err := proto.DecodeHeader(hb)
			if err != nil {
				return nil, err
			}
			body, err := hex.DecodeString(strings.TrimSpace(bodyHex))
			if err != nil {
				return nil, fmt.Errorf("%s: body hex: %w", path, err)
			}
			c := &s.Conns[len(s.Conns)-1]
			c.Packets = append(c.Packets, Packet{FromClient: line[0] == 'C', Header: h, Body: body})
		}
	}
	return s, sc.Err()
}
