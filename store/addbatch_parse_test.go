package store

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// The answers of add_uploads and add_uploads_set as the procedures write
// them: each upload's outcome, and ErrCommitUnknown for an answer that
// cannot be read.
func TestParseAddUploadsAnswers(t *testing.T) {
	res, err := parseAddUploads("0 0 group1/M00/a a.txt\n0 7 group1/M00/b b c.txt\n1 0  x.txt\n", 3)
	require.NoError(t, err)
	require.Equal(t, AddResult{FileID: "group1/M00/a", FileName: "a.txt"}, res[0].res)
	require.Equal(t, AddResult{FileID: "group1/M00/b", GCID: 7, Dup: true, FileName: "b c.txt"}, res[1].res)
	require.ErrorIs(t, res[2].err, ErrExists)
	require.Equal(t, "x.txt", res[2].res.FileName)
	for _, bad := range []string{"0 0 id a.txt\n", "x 0 id a.txt\n0 0 id b\n", "0 0 id\n0 0 id b\n"} {
		_, err := parseAddUploads(bad, 2)
		require.ErrorIs(t, err, ErrCommitUnknown, "%q", bad)
	}

	batch := []*addReq{{f: NewFile{FileID: "group1/M00/p", FileName: "p.txt"}}, {f: NewFile{FileID: "group1/M00/q", FileName: "q.txt"}}, {f: NewFile{FileName: "r.txt"}}}
	res, err = parseAddUploadsSet("2 1\n2 0 9 group1/M00/old q (1).txt\n3 2 0  r.txt\n", batch)
	require.NoError(t, err)
	require.Equal(t, AddResult{FileID: "group1/M00/p", FileName: "p.txt"}, res[0].res, "recorded set-based as asked")
	require.Equal(t, AddResult{FileID: "group1/M00/old", GCID: 9, Dup: true, FileName: "q (1).txt"}, res[1].res)
	require.True(t, errors.Is(res[2].err, ErrQuota))
	for _, bad := range []string{"2 1\n2 0 9 id q.txt\n2 0 0 id r.txt\n", "2 1\n4 0 9 id q.txt\n3 0 0 id r.txt\n", "2 1\n2 0 9 id q.txt\n", "z\n"} {
		_, err := parseAddUploadsSet(bad, batch)
		require.ErrorIs(t, err, ErrCommitUnknown, "%q", bad)
	}
}
