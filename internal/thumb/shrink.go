package thumb

import (
	"image"
	"image/color"
	"image/draw"
)

// shrink returns the rectangle r of src reduced by the integer factor k
// with a box filter (each pixel the mean of a k×k block; a partial last
// row or column of blocks is dropped), as premultiplied RGBA. It is the
// cheap first step of a large reduction: the resampling kernel that
// follows then works on a few pixels, not on the whole source, and reads
// RGBA instead of converting YCbCr once per tap (it spent four fifths of
// the time on a 12-megapixel JPEG). JPEG and lossy WebP (YCbCr), PNG and
// lossless WebP (RGBA, NRGBA) are read directly; other types are
// converted by image/draw first.
func shrink(src image.Image, r image.Rectangle, k int) *image.RGBA {
	w, h := r.Dx()/k, r.Dy()/k
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	n := uint32(k * k)
	switch s := src.(type) {
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				var sy, scb, scr uint32
				for dy := 0; dy < k; dy++ {
					py := r.Min.Y + y*k + dy
					for dx := 0; dx < k; dx++ {
						px := r.Min.X + x*k + dx
						sy += uint32(s.Y[s.YOffset(px, py)])
						ci := s.COffset(px, py)
						scb += uint32(s.Cb[ci])
						scr += uint32(s.Cr[ci])
					}
				}
				cr, cg, cb := color.YCbCrToRGB(uint8(sy/n), uint8(scb/n), uint8(scr/n))
				i := dst.PixOffset(x, y)
				dst.Pix[i], dst.Pix[i+1], dst.Pix[i+2], dst.Pix[i+3] = cr, cg, cb, 255
			}
		}
		return dst
	case *image.RGBA:
		boxRGBA(dst, s.Pix, s.Stride, s.PixOffset(r.Min.X, r.Min.Y), k, false)
		return dst
	case *image.NRGBA:
		boxRGBA(dst, s.Pix, s.Stride, s.PixOffset(r.Min.X, r.Min.Y), k, true)
		return dst
	}
	if k == 1 {
		draw.Draw(dst, dst.Bounds(), src, r.Min, draw.Src)
		return dst
	}
	tmp := image.NewRGBA(image.Rect(0, 0, w*k, h*k))
	draw.Draw(tmp, tmp.Bounds(), src, r.Min, draw.Src)
	boxRGBA(dst, tmp.Pix, tmp.Stride, 0, k, false)
	return dst
}

// boxRGBA fills dst with the k×k block means of 4-byte pixels starting at
// pix[off]; straight (non-premultiplied) alpha is premultiplied first.
func boxRGBA(dst *image.RGBA, pix []uint8, stride, off, k int, straight bool) {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	n := uint32(k * k)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var sr, sg, sb, sa uint32
			for dy := 0; dy < k; dy++ {
				i := off + (y*k+dy)*stride + x*k*4
				for dx := 0; dx < k; dx++ {
					r, g, b, a := uint32(pix[i]), uint32(pix[i+1]), uint32(pix[i+2]), uint32(pix[i+3])
					if straight && a != 255 {
						r, g, b = r*a/255, g*a/255, b*a/255
					}
					sr, sg, sb, sa = sr+r, sg+g, sb+b, sa+a
					i += 4
				}
			}
			j := dst.PixOffset(x, y)
			dst.Pix[j], dst.Pix[j+1], dst.Pix[j+2], dst.Pix[j+3] = uint8(sr/n), uint8(sg/n), uint8(sb/n), uint8(sa/n)
		}
	}
}
