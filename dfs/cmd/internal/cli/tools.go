package cli

import (
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"

	"yunpan/conf"
	"yunpan/dfs/client"
	"yunpan/dfs/fileid"
	"yunpan/dfs/proto"
)

// Usage lines (docs/protocol.md §9).
const (
	UploadUsage   = "Usage: fdfs_upload_file <config_file> <local_filename> [storage_ip:port] [store_path_index]\n"
	DownloadUsage = "Usage: fdfs_download_file <config_file> <file_id> [local_filename] [<download_offset> <download_bytes>]\n"
	DeleteUsage   = "Usage: fdfs_delete_file <config_file> <file_id>\n"
	FileInfoUsage = "Usage: fdfs_file_info [options] <config_file> <file_id>\n" +
		"  options:\n" +
		"    -s: keep silence, when this file not exist, do not log error on storage server\n" +
		"    -n: do NOT calculate CRC32 for appender file or slave file\n"
	CRC32Usage = "Usage: fdfs_crc32 <filename>\n"
)

// atol reads a leading optional sign and digits, as C's atol: junk gives 0.
func atol(s string) int64 {
	s = strings.TrimLeft(s, " \t\n\r\v\f")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		return -n
	}
	return n
}

// Upload is fdfs_upload_file (§9.1): the file ID on stdout; errors on
// stderr with the errno as exit code.
func Upload(args []string, stdout, stderr io.Writer) int {
	// An upload from a file leaves nothing behind when it is killed (the
	// storage drops a request cut short).
	return RunUncaught(args, 2, UploadUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {

		local := args[1]
		addr, pathIndex, code := storageArg(args, stderr)
		if code != 0 {
			return code
		}
		if addr, pathIndex, code = storeTarget(ctx, c, addr, pathIndex, stderr); code != 0 {
			return code
		}
		id, err := uploadLocal(ctx, c, addr, pathIndex, local)
		if err != nil {
			fmt.Fprintln(stderr, FailLine("upload file", err))
			return Errno(err)
		}
		fmt.Fprintln(stdout, id)
		return 0
	})
}

// storageArg reads fdfs_upload_file's optional [storage_ip:port]
// [store_path_index]: "" and −1 (the storage chooses) when absent. A bad
// address is reported on stderr and returned as a non-zero exit code.
func storageArg(args []string, stderr io.Writer) (addr string, pathIndex, code int) {
	if len(args) < 3 {
		return "", -1, 0
	}
	addr, err := conf.NormalizeHostPort(args[2], conf.DefaultStoragePort)
	if err != nil {
		err = proto.Errf(proto.StatusEINVAL, "storage address %q: %v", args[2], err)
		fmt.Fprintln(stderr, FailLine("upload file", err))
		return "", -1, Errno(err)
	}
	pathIndex = -1
	if len(args) >= 4 {
		pathIndex = int(atol(args[3]))
	}
	return addr, pathIndex, 0
}

// storeTarget asks the tracker (QUERY_STORE) where to upload unless a
// storage was given on the command line.
func storeTarget(ctx context.Context, c *client.Client, addr string, pathIndex int, stderr io.Writer) (string, int, int) {
	if addr != "" {
		return addr, pathIndex, 0
	}
	st, err := c.QueryStore(ctx, "")
	if err != nil {
		fmt.Fprintln(stderr, FailLine("tracker_query_storage", err))
		return "", -1, Errno(err)
	}
	return st.Storages[0].String(), int(st.PathIndex), 0
}

func uploadLocal(ctx context.Context, c *client.Client, addr string, pathIndex int, local string) (string, error) {
	f, err := os.Open(local)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", proto.Errf(proto.StatusEINVAL, "%s is not a regular file", local)
	}
	return c.UploadTo(ctx, addr, pathIndex, f, st.Size(), fileid.ExtFromFilename(local))
}

// Download is fdfs_download_file (§9.4): silent on success; a failure line
// on stdout and still exit 0.
func Download(args []string, stdout, stderr io.Writer) int {
	return Run(args, 2, DownloadUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {

		fileID := args[1]
		local := fileID[strings.LastIndexByte(fileID, '/')+1:]
		if len(args) >= 3 {
			local = args[2]
		}
		var offset, length int64
		if len(args) >= 5 {
			offset, length = atol(args[3]), atol(args[4])
		}
		if _, err := c.DownloadFile(ctx, fileID, local, offset, length); err != nil {
			fmt.Fprintln(stdout, FailLine("download file", err))
		}
		return 0
	})
}

// Delete is fdfs_delete_file (§9.5): a failure line on stdout, exit errno.
func Delete(args []string, stdout, stderr io.Writer) int {
	return Run(args, 2, DeleteUsage, stdout, stderr, func(ctx context.Context, c *client.Client) int {
		if err := c.Delete(ctx, args[1]); err != nil {
			fmt.Fprintln(stdout, FailLine("delete file", err))
			return Errno(err)
		}
		return 0
	})
}

// FileInfo is fdfs_file_info (§9.6). Options may come anywhere before "--".
func FileInfo(args []string, stdout, stderr io.Writer) int {
	var flags byte
	var pos []string
	for i, a := range args {
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) > 1 && a[0] == '-' {
			for _, o := range a[1:] {
				switch o {
				case 's':
					flags |= client.FileInfoSilent
				case 'n':
					flags |= client.FileInfoNoCRC
				default:
					fmt.Fprint(stdout, FileInfoUsage)
					return 1
				}
			}
			continue
		}
		pos = append(pos, a)
	}
	if len(pos) < 2 {
		fmt.Fprint(stdout, FileInfoUsage)
		return 1
	}
	c, code := Open(pos[0], stderr)
	if c == nil {
		return code
	}
	defer c.Close()
	ctx, cancel := Context()
	defer cancel()
	fi, err := c.FileInfo(ctx, pos[1], flags)
	if err != nil {
		fmt.Fprintln(stderr, FailLine("query file info", err))
		return 0
	}
	fmt.Fprint(stdout, FormatFileInfo(fi, flags))
	return 0
}

// FormatFileInfo is the stdout block of fdfs_file_info.
func FormatFileInfo(fi *client.FileInfo, flags byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "GET FROM SERVER: %t\n\n", fi.GetFromServer)
	fmt.Fprintf(&b, "file type: %s\n", fi.TypeName())
	fmt.Fprintf(&b, "source storage id: %d\n", fi.SourceID)
	fmt.Fprintf(&b, "source ip address: %s\n", fi.SourceIP)
	fmt.Fprintf(&b, "file create timestamp: %s\n", FormatTime(fi.CreateTime))
	fmt.Fprintf(&b, "file size: %d\n", fi.Size)
	if flags&client.FileInfoNoCRC == 0 || fi.CRC32 != 0 {
		fmt.Fprintf(&b, "file crc32: %d (0x%08x)\n", int32(fi.CRC32), fi.CRC32)
	}
	b.WriteString("\n")
	return b.String()
}

// CRC32 is fdfs_crc32: the IEEE CRC32 of a local file in lower-case hex
// without leading zeros, as FastDFS 6.16 prints it.
func CRC32(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stdout, CRC32Usage)
		return 1
	}
	f, err := os.Open(args[0])
	if err != nil {
		fmt.Fprintln(stderr, FailLine("open file "+args[0], err))
		return Errno(err)
	}
	defer f.Close()
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, f); err != nil {
		fmt.Fprintln(stderr, FailLine("read file "+args[0], err))
		return Errno(err)
	}
	fmt.Fprintf(stdout, "%x\n", h.Sum32())
	return 0
}
