package conf

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultClient returns client.conf with FastDFS's code defaults (docs/protocol.md §8.4).
// TrackerServers is empty: LoadClient requires at least one.
func DefaultClient() *Client {
	return &Client{
		ConnectTimeout:            10 * time.Second,
		NetworkTimeout:            30 * time.Second,
		BasePath:                  "/tmp",
		LogLevel:                  "info",
		ConnectionPoolMaxIdleTime: 3600 * time.Second,
		ConnectFirstBy:            "tracker",
	}
}

// LoadClient reads and validates a client.conf.
func LoadClient(path string) (*Client, error) {
	f, err := Load(path)
	if err != nil {
		return nil, err
	}
	c, err := ClientFromFile(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ClientFromFile builds a Client from parsed client.conf text.
func ClientFromFile(f *File) (*Client, error) {
	c := DefaultClient()
	r := &fields{s: f.Section("")}
	s := r.s

	c.ConnectTimeout = r.positiveSeconds("connect_timeout", c.ConnectTimeout)
	c.NetworkTimeout = r.positiveSeconds("network_timeout", c.NetworkTimeout)
	if v := s.String("base_path", ""); v != "" {
		c.BasePath = filepath.Clean(v)
	}
	// §8.4: the client's list is de-duplicated and sorted (host text, then port).
	hps := r.trackers()
	sort.SliceStable(hps, func(i, j int) bool {
		a, b := strings.Join(hps[i].Hosts, ","), strings.Join(hps[j].Hosts, ",")
		if a != b {
			return a < b
		}
		return hps[i].Port < hps[j].Port
	})
	for _, hp := range hps {
		c.TrackerServers = append(c.TrackerServers, hp.String())
	}
	c.LogLevel = r.logLevel()
	c.UseConnectionPool = s.Bool("use_connection_pool", false)
	c.ConnectionPoolMaxIdleTime = r.positiveSeconds("connection_pool_max_idle_time", c.ConnectionPoolMaxIdleTime)
	c.LoadParamsFromTracker = s.Bool("load_fdfs_parameters_from_tracker", false)
	c.UseStorageID = s.Bool("use_storage_id", false)
	if name := s.String("storage_ids_filename", ""); name != "" {
		c.StorageIDsFilename = f.Resolve(name)
	}
	// With load_fdfs_parameters_from_tracker the tracker decides (§2.9).
	if c.UseStorageID && !c.LoadParamsFromTracker {
		c.StorageIDsFilename, c.StorageIDs = r.storageIDs(f)
	}
	switch v := strings.ToLower(s.String("connect_first_by", "tracker")); v {
	case "tracker", "last-connected":
		c.ConnectFirstBy = v
	case "":
	default:
		r.fail("connect_first_by: %q is not tracker or last-connected", cut(v, 40))
	}
	c.AntiStealCheckToken = s.Bool("http.anti_steal.check_token", false)
	c.AntiStealSecretKey = s.String("http.anti_steal.secret_key", "")

	if err := r.err("client config"); err != nil {
		return nil, err
	}
	return c, nil
}
