package conf

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestTransferKeys(t *testing.T) {
	st, err := storageFrom(t, minStorage)
	require.NoError(t, err)
	require.Equal(t, Transfer{MinRate: DefaultMinTransferRate}, st.Transfer)

	st, err = storageFrom(t, minStorage+"min_transfer_rate=4K\nmin_transfer_rate_grace=7\n")
	require.NoError(t, err)
	require.Equal(t, Transfer{MinRate: 4096, Grace: 7 * time.Second}, st.Transfer)

	st, err = storageFrom(t, minStorage+"min_transfer_rate=0\n")
	require.NoError(t, err)
	require.Zero(t, st.Transfer.MinRate)

	for _, bad := range []string{"min_transfer_rate=-1\n", "min_transfer_rate=fast\n", "min_transfer_rate_grace=-3\n"} {
		_, err = storageFrom(t, minStorage+bad)
		require.Error(t, err, bad)
	}
}
