package thumb

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"
)

// Limits bound what Decode accepts. Pixels are checked on the header
// before decoding, so a small file claiming a huge canvas (a decompression
// bomb) costs nothing: a decoded image takes up to 4 bytes a pixel.
type Limits struct {
	MaxBytes  int64 // the encoded file
	MaxPixels int64 // width × height
	MaxSide   int   // width and height each
}

// DefaultLimits: a 50-megapixel image decodes into at most 200 MB.
var DefaultLimits = Limits{MaxBytes: 64 << 20, MaxPixels: 50_000_000, MaxSide: 20000}

// Spec is one thumbnail size.
type Spec struct {
	Name string // "150x150", "800": the slave file prefix is "_" + Name
	W, H int    // H = 0: W wide, height by aspect ratio
}

// Prefix is the FastDFS slave file prefix of the spec's thumbnails.
func (s Spec) Prefix() string { return "_" + s.Name }

// Specs are the thumbnails Make produces: a square cut from the centre,
// and one 800 pixels wide. Neither is ever larger than the source.
var Specs = []Spec{{Name: "150x150", W: 150, H: 150}, {Name: "800", W: 800}}

// SpecByName finds a spec.
func SpecByName(name string) (Spec, bool) {
	for _, s := range Specs {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// Thumb is one encoded thumbnail.
type Thumb struct {
	Spec Spec
	Ext  string // "jpg" (opaque source) or "png" (source with transparency)
	Data []byte
	W, H int
}

// Image is a decoded source.
type Image struct {
	Img         image.Image
	Format      Format
	Orientation int // EXIF orientation (JPEG), 1 = as stored
}

// Config reads the format and the size the header claims, and checks them
// against lim.
func Config(data []byte, lim Limits) (Format, image.Config, error) {
	f, ok := Detect(data)
	if !ok {
		return "", image.Config{}, ErrNotImage
	}
	if int64(len(data)) > lim.MaxBytes {
		return f, image.Config{}, fmt.Errorf("%w: %d bytes (limit %d)", ErrTooLarge, len(data), lim.MaxBytes)
	}
	var cfg image.Config
	var err error
	r := bytes.NewReader(data)
	switch f {
	case JPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case PNG:
		cfg, err = png.DecodeConfig(r)
	case GIF:
		cfg, err = gif.DecodeConfig(r)
	case WebP:
		cfg, err = webp.DecodeConfig(r)
	}
	if err != nil {
		return f, cfg, fmt.Errorf("%w: %s header: %v", ErrCorrupt, f, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return f, cfg, fmt.Errorf("%w: %s of %dx%d", ErrCorrupt, f, cfg.Width, cfg.Height)
	}
	if cfg.Width > lim.MaxSide || cfg.Height > lim.MaxSide || int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return f, cfg, fmt.Errorf("%w: %s of %dx%d (limits %d px a side, %d pixels)",
			ErrTooLarge, f, cfg.Width, cfg.Height, lim.MaxSide, lim.MaxPixels)
	}
	return f, cfg, nil
}

// Decode decodes an image (the first frame of a GIF) after Config has
// accepted its header. A decoder that panics on hostile input is an error
// here, not a crash.
func Decode(data []byte, lim Limits) (img Image, err error) {
	f, cfg, err := Config(data, lim)
	if err != nil {
		return Image{}, err
	}
	defer func() {
		if p := recover(); p != nil {
			img, err = Image{}, fmt.Errorf("%w: %s decoder panicked: %v", ErrCorrupt, f, p)
		}
	}()
	var m image.Image
	r := bytes.NewReader(data)
	switch f {
	case JPEG:
		m, err = jpeg.Decode(r)
	case PNG:
		m, err = png.Decode(r)
	case GIF:
		m, err = gif.Decode(r)
	case WebP:
		m, err = webp.Decode(r)
	}
	if err != nil {
		return Image{}, fmt.Errorf("%w: %s: %v", ErrCorrupt, f, err)
	}
	if b := m.Bounds(); b.Dx() > cfg.Width || b.Dy() > cfg.Height || b.Empty() {
		return Image{}, fmt.Errorf("%w: %s decoded to %v, header says %dx%d", ErrCorrupt, f, b, cfg.Width, cfg.Height)
	}
	img = Image{Img: m, Format: f, Orientation: 1}
	if f == JPEG {
		img.Orientation = jpegOrientation(data)
	}
	return img, nil
}

// Make decodes data and produces one thumbnail per spec in Specs.
func Make(data []byte, lim Limits) ([]Thumb, error) {
	img, err := Decode(data, lim)
	if err != nil {
		return nil, err
	}
	return img.Thumbs(Specs)
}

// Thumbs scales the image to each spec, upright.
func (m Image) Thumbs(specs []Spec) ([]Thumb, error) {
	ext := "jpg"
	if !opaque(m.Img) {
		ext = "png"
	}
	out := make([]Thumb, 0, len(specs))
	for _, s := range specs {
		small := m.scale(s)
		var buf bytes.Buffer
		var err error
		if ext == "png" {
			err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, small)
		} else {
			err = jpeg.Encode(&buf, small, &jpeg.Options{Quality: 85})
		}
		if err != nil {
			return nil, fmt.Errorf("encode %s thumbnail: %w", s.Name, err)
		}
		b := small.Bounds()
		out = append(out, Thumb{Spec: s, Ext: ext, Data: buf.Bytes(), W: b.Dx(), H: b.Dy()})
	}
	return out, nil
}

// opaque reports whether every pixel is opaque (the decoders' types can
// tell; anything else is asked pixel by pixel by Opaque).
func opaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// scale cuts and scales the source for s in its stored orientation and
// then turns the small result upright, which is cheaper than turning the
// source.
func (m Image) scale(s Spec) *image.RGBA {
	sb := m.Img.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	swap := m.Orientation >= 5 // shown with width and height exchanged
	var src image.Rectangle
	var tw, th int // target size in stored orientation
	if s.H > 0 {
		side := min(sw, sh)
		x0, y0 := sb.Min.X+(sw-side)/2, sb.Min.Y+(sh-side)/2
		src = image.Rect(x0, y0, x0+side, y0+side)
		tw = min(s.W, side)
		th = tw * s.H / s.W
		if swap {
			tw, th = th, tw
		}
	} else {
		src = sb
		dw, dh := sw, sh
		if swap {
			dw, dh = sh, sw
		}
		w := min(s.W, dw)
		h := max(1, int((int64(dh)*int64(w)+int64(dw)/2)/int64(dw)))
		tw, th = w, h
		if swap {
			tw, th = h, w
		}
	}
	// Box-reduce first to no less than 1.5 times the target (the
	// resampling kernel then still has its taps to smooth with), then
	// resample.
	k := max(1, min(2*src.Dx()/(3*tw), 2*src.Dy()/(3*th)))
	small := shrink(m.Img, src, k)
	if small.Rect.Dx() == tw && small.Rect.Dy() == th {
		return orient(small, m.Orientation)
	}
	dst := image.NewRGBA(image.Rect(0, 0, tw, th))
	draw.CatmullRom.Scale(dst, dst.Bounds(), small, small.Bounds(), draw.Src, nil)
	return orient(dst, m.Orientation)
}

// orient turns an image stored with EXIF orientation o upright.
func orient(m *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return m
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	d := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var nx, ny int
			switch o {
			case 2:
				nx, ny = w-1-x, y
			case 3:
				nx, ny = w-1-x, h-1-y
			case 4:
				nx, ny = x, h-1-y
			case 5:
				nx, ny = y, x
			case 6:
				nx, ny = h-1-y, x
			case 7:
				nx, ny = h-1-y, w-1-x
			case 8:
				nx, ny = y, w-1-x
			}
			si, di := m.PixOffset(x, y), d.PixOffset(nx, ny)
			copy(d.Pix[di:di+4], m.Pix[si:si+4])
		}
	}
	return d
}
