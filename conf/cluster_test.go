package conf

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorageClusterKeys(t *testing.T) {
	st, err := storageFrom(t, minStorage)
	require.NoError(t, err)
	require.Equal(t, Cluster{SyncAckReplicas: 1}, st.Cluster)

	st, err = storageFrom(t, minStorage+"cluster_secret = s3 cret\nsync_ack_replicas = 3\n")
	require.NoError(t, err)
	require.Equal(t, Cluster{ClusterSecret: "s3 cret", SyncAckReplicas: 3}, st.Cluster)
	require.NotContains(t, st.Cluster.String(), "s3 cret", "the secret stays out of logs")

	for _, bad := range []string{"sync_ack_replicas = 0\n", "sync_ack_replicas = 17\n", "sync_ack_replicas = -2\n"} {
		_, err := storageFrom(t, minStorage+bad)
		require.Error(t, err, bad)
	}
}
