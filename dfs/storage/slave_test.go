package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"yunpan/dfs/proto"
)

// TestUploadSlave covers §11 item 30 and the refusals: the slave is named
// after the master, stored next to it and logged `C`; a repeat is EEXIST;
// bad prefixes, a slave of a slave and a missing master change nothing.
func TestUploadSlave(t *testing.T) {
	s := start(t, testOpts(t))
	c := dial(t, s)
	master := upload(t, c, 0, "jpg", []byte("master bytes"))
	require.True(t, strings.HasSuffix(master, ".jpg"))

	h, b := roundTrip(t, c, proto.CmdUploadSlaveFile, 0, slaveBody(master, "_s", "jpg", []byte("thumb")))
	require.Equal(t, byte(0), h.Status)
	slave := strings.TrimSuffix(master, ".jpg") + "_s.jpg"
	require.Equal(t, "group1", proto.Fixed(b[:16]))
	require.Equal(t, slave, string(b[16:]))
	require.Equal(t, "thumb", string(content(t, s, slave)))
	lines := binlogLines(t, s)
	require.Equal(t, fmt.Sprintf("%d C %s", mtimeOf(t, s, slave), slave), lines[len(lines)-1])

	// Downloadable by the slave ID; QUERY_FILE_INFO computes its CRC.
	h, b = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", slave, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "thumb", string(b))

	// No extension: the slave has none.
	h, b = roundTrip(t, c, proto.CmdUploadSlaveFile, 0, slaveBody(master, "-raw", "", []byte("raw")))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, strings.TrimSuffix(master, ".jpg")+"-raw", string(b[16:]))
	require.Equal(t, int64(3), s.stats.get(statSuccessUpload))

	normal2 := upload(t, c, 0, "", []byte("no ext"))
	before := snapshot(t, s)
	for _, tc := range []struct {
		name string
		body []byte
		want byte
	}{
		{"repeat", slaveBody(master, "_s", "jpg", []byte("again")), proto.StatusEEXIST},
		{"empty prefix", slaveBody(master, "", "jpg", []byte("x")), proto.StatusEINVAL},
		{"prefix with /", slaveBody(master, "a/b", "jpg", []byte("x")), proto.StatusEINVAL},
		{"prefix ..", slaveBody(master, "..", "jpg", []byte("x")), proto.StatusEINVAL},
		{"bad ext", slaveBody(master, "_t", "j/g", []byte("x")), proto.StatusEINVAL},
		{"-m without ext", slaveBody(normal2, "-m", "", []byte("x")), proto.StatusEINVAL},
		{"slave of a slave", slaveBody(slave, "_x", "jpg", []byte("x")), proto.StatusEINVAL},
		{"missing master", slaveBody(master[:10]+"AAAAAAAAAAAAAAAAAAAAAAAAAAA123.jpg", "_s", "jpg", []byte("x")), proto.StatusENOENT},
		{"short master name", slaveBody("M00/00/00/", "_s", "jpg", []byte("x")), proto.StatusEINVAL},
		{"fixed part only", make([]byte, slaveFixedLen), proto.StatusEINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, s)
			h, b := roundTrip(t, c, proto.CmdUploadSlaveFile, 0, tc.body)
			require.Equal(t, tc.want, h.Status)
			require.Empty(t, b)
			if tc.want == proto.StatusEINVAL {
				requireClosed(t, c)
			} else {
				// The unread content was skipped: the connection still works.
				h, _ := roundTrip(t, c, proto.CmdActiveTest, 0, nil)
				require.Equal(t, byte(0), h.Status)
			}
			require.Equal(t, before, snapshot(t, s))
		})
	}
	require.Equal(t, "thumb", string(content(t, s, slave)))
}

// TestUploadSlaveLinked: with store_slave_file_use_link the content keeps a
// generated name, the slave name is a symlink to it, and the binlog has `C`
// for the data file and `L` for the link. Deleting the slave removes both.
func TestUploadSlaveLinked(t *testing.T) {
	s := start(t, testOpts(t))
	p := defaultParams
	p.slaveUseLink = true
	s.params.Store(&p)
	c := dial(t, s)
	master := upload(t, c, 0, "png", []byte("the master"))
	h, b := roundTrip(t, c, proto.CmdUploadSlaveFile, 0, slaveBody(master, "_150x150", "png", []byte("small")))
	require.Equal(t, byte(0), h.Status)
	slave := string(b[16:])
	require.Equal(t, strings.TrimSuffix(master, ".png")+"_150x150.png", slave)

	_, slavePath, err := s.parseRemote(slave)
	require.NoError(t, err)
	fi, err := os.Lstat(slavePath)
	require.NoError(t, err)
	require.NotZero(t, fi.Mode()&os.ModeSymlink)
	target, err := os.Readlink(slavePath)
	require.NoError(t, err)
	require.False(t, filepath.IsAbs(target), "relative link survives moving the store path")

	lines := binlogLines(t, s)
	require.GreaterOrEqual(t, len(lines), 3)
	c1 := strings.Fields(lines[len(lines)-2])
	l := strings.Fields(lines[len(lines)-1])
	require.Equal(t, "C", c1[1])
	data := c1[2]
	require.Len(t, data, 44)
	require.Equal(t, []string{"L", slave, data}, l[1:])
	require.Equal(t, "small", string(content(t, s, data)))

	// Reads follow the link.
	h, b = roundTrip(t, c, proto.CmdDownloadFile, 0, downloadBody("group1", slave, 0, 0))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, "small", string(b))
	h, b = roundTrip(t, c, proto.CmdQueryFileInfo, 0, groupBody("group1", slave))
	require.Equal(t, byte(0), h.Status)
	require.Equal(t, int64(5), proto.I64(b[:8]))

	// A repeat is EEXIST and leaves no second data file behind.
	before := snapshot(t, s)
	h, _ = roundTrip(t, c, proto.CmdUploadSlaveFile, 0, slaveBody(master, "_150x150", "png", []byte("again")))
	require.Equal(t, proto.StatusEEXIST, h.Status)
	require.Equal(t, before, snapshot(t, s))

	h, _ = roundTrip(t, c, proto.CmdDeleteFile, 0, groupBody("group1", slave))
	require.Equal(t, byte(0), h.Status)
	_, dataPath, _ := s.parseRemote(data)
	require.NoFileExists(t, dataPath)
	require.NoFileExists(t, slavePath)
	require.FileExists(t, filepath.Join(filepath.Dir(slavePath), filepath.Base(master)))
}
