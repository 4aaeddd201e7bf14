package app

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/rs/zerolog"

	"yunpan/fcgi/config"
	"yunpan/store"
)

// ThumbsStats counts what ThumbsPass did.
type ThumbsStats struct {
	Examined, Made, None, Gone, Failed int
}

// ThumbsPass makes the thumbnails of every content not examined yet
// (file_info.thumbs = ”), workers at a time, in id order. Each content is
// recorded as it is done, so a pass cut short resumes where it was on the
// next run; content that failed (the DFS or the database) stays
// unexamined for the next run. With dryRun it only counts and lists.
func (a *App) ThumbsPass(ctx context.Context, workers int, dryRun bool, each func(store.Content, thumbOutcome)) (ThumbsStats, error) {
	var st ThumbsStats
	var mu sync.Mutex
	jobs := make(chan store.Content)
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				out := thumbsNone
				if !dryRun {
					jctx, cancel := context.WithTimeout(ctx, thumbTimeout)
					out = a.makeThumbs(jctx, c, nil)
					cancel()
				}
				mu.Lock()
				st.Examined++
				switch out {
				case thumbsMade:
					st.Made++
				case thumbsNone:
					st.None++
				case thumbsGone:
					st.Gone++
				default:
					st.Failed++
				}
				if each != nil {
					each(c, out)
				}
				mu.Unlock()
			}
		}()
	}
	var err error
	after := int64(0)
loop:
	for {
		var batch []store.Content
		if batch, err = a.st.Unexamined(ctx, after, 100); err != nil || len(batch) == 0 {
			break
		}
		for _, c := range batch {
			select {
			case jobs <- c:
			case <-ctx.Done():
				err = ctx.Err()
				break loop
			}
			after = c.ID
		}
	}
	close(jobs)
	wg.Wait()
	return st, err
}

const thumbsUsage = `usage: thumbs [-conf cfg.json] [-workers 2] [-dry-run]
Makes the missing thumbnails (150x150 and 800 wide, stored as FastDFS slave
files "_150x150" and "_800" of each image) of the content uploaded before
thumbnails existed, or whose upload found the thumbnail queue full. Each
content is recorded as it is done: an interrupted run resumes on the next.
-dry-run lists the content that would be examined and changes nothing.
`

// ThumbsMain is the whole main of the thumbs command; it returns the exit
// code (0 done, 1 failure, 2 usage).
func ThumbsMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("thumbs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("conf", defaultConf(), "cfg.json path (env YUNPAN_CFG)")
	workers := fs.Int("workers", 2, "images decoded at once (each may take 200 MB)")
	dryRun := fs.Bool("dry-run", false, "only list what would be examined")
	fs.Usage = func() {
		fmt.Fprint(stderr, thumbsUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || *workers < 1 || *workers > 16 {
		fs.Usage()
		return 2
	}
	log := zerolog.New(stderr).With().Timestamp().Str("prog", "thumbs").Logger().Level(zerolog.WarnLevel)
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Error().Err(err).Msg("config")
		return 1
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	a, err := New(ctx, cfg, Options{Log: log, Program: "thumbs"})
	if err != nil {
		log.Error().Err(err).Msg("start")
		return 1
	}
	defer a.Close()
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	st, err := a.ThumbsPass(ctx, *workers, *dryRun, func(c store.Content, out thumbOutcome) {
		switch {
		case *dryRun:
			fmt.Fprintf(w, "would examine %s %s\n", c.MD5, c.FileID)
		case out == thumbsMade:
			fmt.Fprintf(w, "made %s %s\n", c.MD5, c.FileID)
		}
	})
	if *dryRun {
		fmt.Fprintf(w, "thumbs: would examine %d\n", st.Examined)
	} else {
		fmt.Fprintf(w, "thumbs: examined %d, made %d, none %d, deleted meanwhile %d, failed %d\n",
			st.Examined, st.Made, st.None, st.Gone, st.Failed)
	}
	if err != nil {
		log.Error().Err(err).Msg("thumbs stopped")
		return 1
	}
	if st.Failed > 0 {
		return 1
	}
	return 0
}
