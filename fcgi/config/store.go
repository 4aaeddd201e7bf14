package config

import (
	"fmt"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/rs/zerolog"

	"yunpan/store"
)

// Driver builds the MySQL driver config for the "mysql" object.
func (m MySQL) Driver() *mysql.Config {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.DBName = m.User, m.Password, m.Database
	if m.Socket != "" {
		c.Net, c.Addr = "unix", m.Socket
	} else {
		c.Net, c.Addr = "tcp", net.JoinHostPort(m.IP, fmt.Sprint(m.Port))
	}
	return c
}

// StoreOptions builds the store's options from the config.
func (a *Config) StoreOptions(log zerolog.Logger) store.Options {
	return store.Options{
		MySQL:         a.MySQL.Driver(),
		RedisAddr:     a.RedisAddr(),
		RedisPassword: a.Redis.Password,
		RedisDB:       a.Redis.DB,
		KeyPrefix:     a.Redis.KeyPrefix,
		TokenTTL:      a.TokenTTL,
		BcryptCost:    a.BcryptCost,
		Log:           log,

		LoginUserFailures: a.LoginThrottle.UserFailures,
		LoginAddrFailures: a.LoginThrottle.AddrFailures,
		LoginMaxLock:      a.LoginThrottle.MaxLock,

		Quota:    a.QuotaBytes,
		TrashTTL: time.Duration(a.TrashDays) * 24 * time.Hour,
	}
}
