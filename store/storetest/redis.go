package storetest

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
	p    *proc
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
	p, err := startProc("redis-server", r.bin, "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--dir", r.Dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err != nil {
		tb.Fatal(err)
	}
	r.p = p
	if err := poll(p, 20*time.Second, func() error {
		c, err := redis.Dial("tcp", r.Addr(), redis.DialConnectTimeout(time.Second), redis.DialReadTimeout(time.Second))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Do("PING")
		return err
	}); err != nil {
		tb.Fatal(err)
	}
}

// Addr is "127.0.0.1:port".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// Stop ends redis-server (SIGTERM, then SIGKILL after 10 s).
func (r *Redis) Stop() {
	if r.p != nil {
		r.p.stop(10 * time.Second)
	}
}

// Kill crashes redis-server with SIGKILL.
func (r *Redis) Kill() {
	if r.p != nil {
		r.p.kill()
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
