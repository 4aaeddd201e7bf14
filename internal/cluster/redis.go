package cluster

import (
	"net"
	"strconv"
	"time"

	"github.com/gomodule/redigo/redis"
)

// Redis is a private redis-server on 127.0.0.1 without persistence.
type Redis struct {
	Port int
	Dir  string
	bin  string
	c    *child
}

// StartRedis starts redis-server on a free port; it is stopped at Cleanup.
func StartRedis(tb TB) *Redis {
	tb.Helper()
	r := &Redis{Port: FreePort(tb), Dir: tb.TempDir(), bin: lookBin(tb, "redis-server")}
	r.start(tb)
	tb.Cleanup(r.Stop)
	return r
}

func (r *Redis) start(tb TB) {
	tb.Helper()
	c, err := startChild("redis-server", r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--dir", r.Dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err != nil {
		tb.Fatal(err)
	}
	r.c = c
	if err := poll(c, 20*time.Second, func() error {
		conn, err := redis.Dial("tcp", r.Addr(), redis.DialConnectTimeout(time.Second),
			redis.DialReadTimeout(time.Second), redis.DialWriteTimeout(time.Second))
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = conn.Do("PING")
		return err
	}); err != nil {
		c.kill()
		tb.Fatal(err)
	}
}

// Addr is "127.0.0.1:port".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// Stop ends redis-server (SIGTERM, then SIGKILL after 10 s).
func (r *Redis) Stop() {
	if r.c != nil {
		r.c.stop(10 * time.Second)
	}
}

// Kill crashes redis-server with SIGKILL.
func (r *Redis) Kill() {
	if r.c != nil {
		r.c.kill()
	}
}

// Restart starts redis-server again on the same port (empty: no persistence).
func (r *Redis) Restart(tb TB) {
	tb.Helper()
	if r.bin == "" {
		tb.Fatal("redis: restart of a server this process did not start")
	}
	r.Stop()
	r.start(tb)
}
