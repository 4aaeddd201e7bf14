package cli

import (
	"context"
	"fmt"
	"io"

	"yunpan/dfs/client"
)

// Usage lines of the appender tools (docs/protocol.md §9.2, §9.3, §9.7). §9.7 gives
// fdfs_regenerate_filename's without "Usage: ".
const (
	UploadAppenderUsage = "Usage: fdfs_upload_appender <config_file> <local_filename>\n"
	AppendUsage         = "Usage: fdfs_append_file <config_file> <appender_file_id> <local_filename>\n"
	RegenerateUsage     = "fdfs_regenerate_filename <config_file> <appender_file_id>\n"
)

// UploadAppender is fdfs_upload_appender (§9.2): QUERY_STORE then
// UPLOAD_APPENDER_FILE; the file ID on stdout, errors on stderr with the
// errno as exit code.
func UploadAppender(args []string, stdout, stderr io.Writer) int {
	return Run(args, 2, UploadAppenderUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {
		st, err := c.QueryStore(ctx, "")
		if err != nil {
			fmt.Fprintln(stderr, FailLine("tracker_query_storage", err))
			return Errno(err)
		}
		f, size, err := client.OpenLocal(args[1])
		if err != nil {
			fmt.Fprintln(stderr, FailLine("upload file", err))
			return Errno(err)
		}
		defer f.Close()
		id, err := c.UploadWith(ctx, f, size, extOf(args[1]), client.UploadOptions{
			Appender: true, Storage: st.Storages[0].String(), PathIndex: int(st.PathIndex)})
		if err != nil {
			fmt.Fprintln(stderr, FailLine("upload file", err))
			return Errno(err)
		}
		fmt.Fprintln(stdout, id)
		return 0
	})
}

// AppendFile is fdfs_append_file (§9.3): QUERY_UPDATE then APPEND_FILE;
// silent on success; the failure line goes to stdout, exit errno.
func AppendFile(args []string, stdout, stderr io.Writer) int {
	return Run(args, 3, AppendUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {
		if err := c.AppendFile(ctx, args[1], args[2]); err != nil {
			fmt.Fprintln(stdout, FailLine("append file", err))
			return Errno(err)
		}
		return 0
	})
}

// RegenerateFilename is fdfs_regenerate_filename (§9.7): the new file ID on
// stdout; "regenerate file <id> fail, …" on stderr, exit errno.
func RegenerateFilename(args []string, stdout, stderr io.Writer) int {
	return Run(args, 2, RegenerateUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {
		id, err := c.RegenerateAppenderFilename(ctx, args[1])
		if err != nil {
			fmt.Fprintln(stderr, FailLine("regenerate file "+args[1], err))
			return Errno(err)
		}
		fmt.Fprintln(stdout, id)
		return 0
	})
}
