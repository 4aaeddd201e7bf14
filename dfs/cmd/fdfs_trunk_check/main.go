// Command fdfs_trunk_check asks a group's trunk server for trunk space that
// no file references (left by a writer that died between confirming a slot
// and answering its client, or by a delete whose slot could not be given
// back) and, with "repair", frees it. It reads the storage.conf of any
// storage of the group: the group, its trackers and the cluster secret.
//
//	fdfs_trunk_check <storage.conf> [repair] [grace_seconds]
//
// Space marked used within grace_seconds (default 3600) is left alone: a
// file written on another storage reaches the trunk server's binlog through
// the sync, later. Run it while the group's storages are up and in sync.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"yunpan/conf"
	"yunpan/dfs/proto"
)

const usage = "Usage: fdfs_trunk_check <storage.conf> [repair] [grace_seconds]\n"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 || len(args) > 3 {
		fmt.Fprint(stderr, usage)
		return 1
	}
	repair, grace := false, int64(3600)
	for _, a := range args[1:] {
		if a == "repair" {
			repair = true
			continue
		}
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil || n < 0 {
			fmt.Fprint(stderr, usage)
			return 1
		}
		grace = n
	}
	o, err := conf.LoadStorage(args[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	timeout := o.NetworkTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	addr, err := trunkServer(o, timeout)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	body := (&proto.Buf{}).U8(b2u(repair)).I64(grace).B
	resp, err := call(addr, o.Cluster.ClusterSecret, timeout, proto.CmdTrunkCheck, body)
	if err != nil {
		fmt.Fprintf(stderr, "trunk check on %s: %v\n", addr, err)
		return 2
	}
	fmt.Fprintf(stdout, "trunk_server=%s\n%s", addr, resp)
	return 0
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// trunkServer asks the trackers which storage of the group is its trunk
// server (LIST_STORAGE, 92).
func trunkServer(o *conf.Storage, timeout time.Duration) (string, error) {
	var errs []error
	for _, t := range o.TrackerServers {
		resp, err := call(t, "", timeout, proto.CmdServerListStorage, (&proto.Buf{}).Fixed(o.GroupName, proto.GroupNameLen).B)
		if err != nil {
			errs = append(errs, fmt.Errorf("tracker %s: %w", t, err))
			continue
		}
		list, err := proto.DecodeStorageStats(resp)
		if err != nil {
			errs = append(errs, fmt.Errorf("tracker %s: %w", t, err))
			continue
		}
		for _, s := range list {
			if s.IfTrunkServer {
				return net.JoinHostPort(s.IP, strconv.FormatInt(s.StoragePort, 10)), nil
			}
		}
		errs = append(errs, fmt.Errorf("tracker %s: group %s has no trunk server", t, o.GroupName))
	}
	return "", errors.Join(errs...)
}

// call makes one request on a new connection, proving the cluster secret
// first when there is one.
func call(addr, secret string, timeout time.Duration, cmd byte, body []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if secret != "" {
		if _, err := roundTrip(c, timeout, proto.CmdClusterAuth, proto.ClusterAuthBody(secret, time.Now())); err != nil {
			return nil, fmt.Errorf("cluster auth: %w", err)
		}
	}
	resp, err := roundTrip(c, timeout, cmd, body)
	if err == nil {
		c.SetDeadline(time.Now().Add(time.Second))
		proto.WritePacket(c, proto.CmdQuit, 0, nil)
	}
	return resp, err
}

func roundTrip(c net.Conn, timeout time.Duration, cmd byte, body []byte) ([]byte, error) {
	c.SetDeadline(time.Now().Add(timeout))
	if err := proto.WritePacket(c, cmd, 0, body); err != nil {
		return nil, err
	}
	h, err := proto.ReadHeader(c)
	if err != nil {
		return nil, err
	}
	if h.PkgLen > 1<<20 {
		return nil, fmt.Errorf("answer of %d bytes", h.PkgLen)
	}
	resp := make([]byte, h.PkgLen)
	if _, err := io.ReadFull(c, resp); err != nil {
		return nil, err
	}
	if h.Status != 0 {
		return nil, proto.StatusError(h.Status)
	}
	return resp, nil
}
