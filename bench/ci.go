package bench

import (
	"math/rand/v2"
	"slices"
)

// MedianCI is a 95% bootstrap confidence interval of the median of vs: the median of 2,000
// resamples with replacement, their 2.5th and 97.5th percentiles. With fewer than three values
// there is nothing to resample and the interval is the range. The resampling is seeded, so the
// same values give the same interval in every report.
func MedianCI(vs []float64) (lo, hi float64) {
	switch len(vs) {
	case 0:
		return 0, 0
	case 1, 2:
		return slices.Min(vs), slices.Max(vs)
	}
	const resamples = 2000
	rng := rand.New(rand.NewPCG(1, uint64(len(vs))))
	meds := make([]float64, resamples)
	sample := make([]float64, len(vs))
	for i := range meds {
		for j := range sample {
			sample[j] = vs[rng.IntN(len(vs))]
		}
		meds[i] = Median(sample)
	}
	slices.Sort(meds)
	return meds[resamples*25/1000], meds[resamples*975/1000-1]
}
