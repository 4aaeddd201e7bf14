package store

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatementsProcedure(t *testing.T) {
	src := `-- a comment
DROP PROCEDURE IF EXISTS p;
CREATE PROCEDURE p(IN x INT)
BEGIN
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;
    SELECT x;
END;
CREATE TABLE t (a INT);
`
	st := statements(src)
	require.Len(t, st, 3, "%q", st)
	require.Equal(t, "DROP PROCEDURE IF EXISTS p", st[0])
	require.True(t, strings.HasPrefix(st[1], "CREATE PROCEDURE p(IN x INT)"))
	require.True(t, strings.HasSuffix(st[1], "    SELECT x;\nEND"), "%q", st[1])
	require.Equal(t, "CREATE TABLE t (a INT)", st[2])
}
