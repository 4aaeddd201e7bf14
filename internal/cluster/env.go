package cluster

import (
	"encoding/json"
	"fmt"
	"os"
)

// EnvVar carries running services from the test binary that started them
// to the processes it starts (Go's fuzzing workers run the same test binary
// with -test.fuzzworker and inherit its environment): a JSON object with
// the connection fields of MariaDB, Redis and DFS.
const EnvVar = "YUNPAN_CLUSTER_SERVICES"

// Services are running services: started by this process, or reached
// through EnvVar. Handles rebuilt from EnvVar only point at the services:
// their Stop and Kill do nothing and Restart fails (the process that
// started the services stops them).
type Services struct {
	MariaDB *MariaDB `json:"mariadb,omitempty"`
	Redis   *Redis   `json:"redis,omitempty"`
	DFS     *DFS     `json:"dfs,omitempty"`
}

// Export puts s into EnvVar, for the child processes started from now on.
func (s Services) Export() error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("export services: %w", err)
	}
	return os.Setenv(EnvVar, string(b))
}

// ServicesFromEnv rebuilds the handles exported in EnvVar; ok is false
// when it is not set. Nothing is started.
func ServicesFromEnv() (s Services, ok bool, err error) {
	v, ok := os.LookupEnv(EnvVar)
	if !ok || v == "" {
		return s, false, nil
	}
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return s, false, fmt.Errorf("%s: %w", EnvVar, err)
	}
	return s, true, nil
}
