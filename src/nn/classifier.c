/* classifier.c - the frame classifier of weak-label refinement: logistic
 * regression or a one-hidden-layer MLP with sigmoid outputs over patch
 * embeddings, trained with Adam on OpenBLAS SGEMM and stopped early on
 * held-out rows. Not a general training framework: one model shape only. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "aedcurate/error.h"
#include "aedcurate/nn.h"
#include "aedcurate/util.h"

struct aed_clf {
	int d, h, c;          /* inputs, hidden units (0: none), outputs */
	float *mu, *inv_sd;   /* [d] input standardisation */
	float *params;        /* all weights back to back (layout below) */
	size_t n_params;
	/* Views into params: with h > 0, w1 [d][h], b1 [h], w2 [h][c], b2 [c];
	 * with h == 0, w2 [d][c], b2 [c] and w1 = b1 = NULL. */
	float *w1, *b1, *w2, *b2;
};

/* Scratch for one batch of up to `rows` rows. */
struct scratch {
	float *x, *z1, *p, *g, *dh;
};

static double rng_uniform(uint64_t *s)
{
	return ((double)(aed_splitmix64_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static void layout(struct aed_clf *m, float *base)
{
	if (m->h) {
		m->w1 = base;
		m->b1 = m->w1 + (size_t)m->d * m->h;
		m->w2 = m->b1 + m->h;
		m->b2 = m->w2 + (size_t)m->h * m->c;
	} else {
		m->w1 = m->b1 = NULL;
		m->w2 = base;
		m->b2 = m->w2 + (size_t)m->d * m->c;
	}
}

static struct aed_clf *clf_new(int d, int h, int c)
{
	struct aed_clf *m = calloc(1, sizeof *m);

	if (!m)
		return NULL;
	m->d = d;
	m->h = h;
	m->c = c;
	m->n_params = h ? (size_t)d * h + h + (size_t)h * c + c : (size_t)d * c + c;
	m->mu = calloc((size_t)d, sizeof *m->mu);
	m->inv_sd = calloc((size_t)d, sizeof *m->inv_sd);
	m->params = calloc(m->n_params, sizeof *m->params);
	if (!m->mu || !m->inv_sd || !m->params) {
		aed_clf_free(&m);
		return NULL;
	}
	layout(m, m->params);
	return m;
}

void aed_clf_free(struct aed_clf **pm)
{
	struct aed_clf *m = *pm;

	if (!m)
		return;
	free(m->mu);
	free(m->inv_sd);
	free(m->params);
	free(m);
	*pm = NULL;
}

static int scratch_init(struct scratch *s, const struct aed_clf *m, size_t rows)
{
	memset(s, 0, sizeof *s);
	s->x = malloc(rows * m->d * sizeof(float));
	s->p = malloc(rows * m->c * sizeof(float));
	s->g = malloc(rows * m->c * sizeof(float));
	if (m->h) {
		s->z1 = malloc(rows * m->h * sizeof(float));
		s->dh = malloc(rows * m->h * sizeof(float));
	}
	if (!s->x || !s->p || !s->g || (m->h && (!s->z1 || !s->dh)))
		return aed_error(AED_ENOMEM, "out of memory for a classifier batch of %zu rows", rows);
	return AED_OK;
}

static void scratch_release(struct scratch *s)
{
	free(s->x);
	free(s->z1);
	free(s->p);
	free(s->g);
	free(s->dh);
	memset(s, 0, sizeof *s);
}

/* Standardised copies of rows idx[0..b) into s->x. */
static void gather(const struct aed_clf *m, const float *x, const size_t *idx, size_t b,
		   struct scratch *s)
{
	for (size_t r = 0; r < b; r++) {
		const float *src = x + idx[r] * (size_t)m->d;
		float *dst = s->x + r * (size_t)m->d;
		for (int j = 0; j < m->d; j++)
			dst[j] = (src[j] - m->mu[j]) * m->inv_sd[j];
	}
}

static float sigmoidf(float z)
{
	return z >= 0 ? 1.0f / (1.0f + expf(-z)) : expf(z) / (1.0f + expf(z));
}

/* Forward pass of b rows already in s->x: s->p = probabilities, and with a
 * hidden layer s->z1 = the ReLU activations. */
static void forward(const struct aed_clf *m, struct scratch *s, size_t b)
{
	const float *in = s->x;
	int k = m->d;

	if (m->h) {
		for (size_t r = 0; r < b; r++)
			memcpy(s->z1 + r * m->h, m->b1, m->h * sizeof(float));
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, m->h, m->d, 1.0f,
			    s->x, m->d, m->w1, m->h, 1.0f, s->z1, m->h);
		for (size_t i = 0; i < b * (size_t)m->h; i++)
			s->z1[i] = s->z1[i] > 0 ? s->z1[i] : 0;
		in = s->z1;
		k = m->h;
	}
	for (size_t r = 0; r < b; r++)
		memcpy(s->p + r * m->c, m->b2, m->c * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)b, m->c, k, 1.0f, in, k,
		    m->w2, m->c, 1.0f, s->p, m->c);
	for (size_t i = 0; i < b * (size_t)m->c; i++)
		s->p[i] = sigmoidf(s->p[i]);
}

/* Weighted BCE of b rows (s->p filled), summed over rows and classes. */
static double batch_loss(const struct aed_clf *m, const struct scratch *s, const float *y,
			 const size_t *idx, size_t b, const float *pos_w)
{
	double sum = 0;

	for (size_t r = 0; r < b; r++)
		for (int k = 0; k < m->c; k++) {
			double p = s->p[r * m->c + k], t = y[idx[r] * (size_t)m->c + k];
			double w = pos_w ? pos_w[k] : 1;
			if (t < 0)
				continue; /* left out */
			p = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
			sum -= w * t * log(p) + (1 - t) * log(1 - p);
		}
	return sum;
}

/* Gradient of the batch's mean loss into grad (same layout as params). */
static void backward(const struct aed_clf *m, struct scratch *s, const float *y,
		     const size_t *idx, size_t b, const float *pos_w, double l2, float *grad)
{
	struct aed_clf gm = *m;
	float scale = 1.0f / (float)b;

	layout(&gm, grad);
	/* dL/dz = p (w y + 1 - y) - w y */
	for (size_t r = 0; r < b; r++)
		for (int k = 0; k < m->c; k++) {
			float p = s->p[r * m->c + k], t = y[idx[r] * (size_t)m->c + k];
			float w = pos_w ? pos_w[k] : 1.0f;
			s->g[r * m->c + k] = t < 0 ? 0 : (p * (w * t + 1 - t) - w * t) * scale;
		}
	const float *in = m->h ? s->z1 : s->x;
	int k = m->h ? m->h : m->d;
	/* dW2 = in^T g + l2 W2 */
	memcpy(gm.w2, m->w2, (size_t)k * m->c * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, m->c, (int)b, 1.0f, in, k,
		    s->g, m->c, (float)l2, gm.w2, m->c);
	memset(gm.b2, 0, m->c * sizeof(float));
	for (size_t r = 0; r < b; r++)
		for (int j = 0; j < m->c; j++)
			gm.b2[j] += s->g[r * m->c + j];
	if (!m->h)
		return;
	/* dH = g W2^T, through the ReLU */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, m->h, m->c, 1.0f, s->g,
		    m->c, m->w2, m->c, 0.0f, s->dh, m->h);
	for (size_t i = 0; i < b * (size_t)m->h; i++)
		if (s->z1[i] <= 0)
			s->dh[i] = 0;
	memcpy(gm.w1, m->w1, (size_t)m->d * m->h * sizeof(float));
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m->d, m->h, (int)b, 1.0f, s->x,
		    m->d, s->dh, m->h, (float)l2, gm.w1, m->h);
	memset(gm.b1, 0, m->h * sizeof(float));
	for (size_t r = 0; r < b; r++)
		for (int j = 0; j < m->h; j++)
			gm.b1[j] += s->dh[r * m->h + j];
}

/* Mean loss per row over the rows idx[0..n). */
static double mean_loss(const struct aed_clf *m, struct scratch *s, const float *x,
			const float *y, const size_t *idx, size_t n, size_t rows,
			const float *pos_w)
{
	double sum = 0;

	for (size_t i = 0; i < n; i += rows) {
		size_t b = n - i < rows ? n - i : rows;
		gather(m, x, idx + i, b, s);
		forward(m, s, b);
		sum += batch_loss(m, s, y, idx + i, b, pos_w);
	}
	return n ? sum / (double)n / m->c : 0;
}

/* Standardise with the training rows' mean and deviation (m->mu,
 * m->inv_sd); sum and sq are d zeroed doubles of scratch. */
static void standardise(struct aed_clf *m, const float *x, int d, const size_t *tr, size_t ntr,
			double *sum, double *sq)
{
	for (size_t r = 0; r < ntr; r++) {
		const float *row = x + tr[r] * (size_t)d;
		for (int j = 0; j < d; j++) {
			sum[j] += row[j];
			sq[j] += (double)row[j] * row[j];
		}
	}
	for (int j = 0; j < d; j++) {
		double mu = sum[j] / ntr, var = sq[j] / ntr - mu * mu;
		m->mu[j] = (float)mu;
		m->inv_sd[j] = (float)(1.0 / sqrt(var > 1e-8 ? var : 1e-8));
	}
}

/* One Adam update of every parameter from grad, step counting from 1;
 * m1 and m2 are the first and second moments. */
static void adam_step(struct aed_clf *m, const float *grad, float *m1, float *m2, double lr,
		      int64_t step)
{
	const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
	double c1 = 1 - pow(b1, (double)step), c2 = 1 - pow(b2, (double)step);

	for (size_t k = 0; k < m->n_params; k++) {
		m1[k] = (float)(b1 * m1[k] + (1 - b1) * grad[k]);
		m2[k] = (float)(b2 * m2[k] + (1 - b2) * grad[k] * grad[k]);
		m->params[k] -= (float)(lr * (m1[k] / c1) / (sqrt(m2[k] / c2) + eps));
	}
}

/* Kept whole (about 125 lines): its steps - defaults, the train/held-out
 * split, standardise(), the He initialisation, epochs of shuffled
 * mini-batches with adam_step(), early stopping on the held-out loss - share
 * the shuffled rows, Adam's moments, the best parameters and the scratch.
 * The initialisation draws two numbers in one expression and stays where it
 * was compiled, so that the weights stay bit for bit what they were. */
int aed_clf_train(const float *x, size_t n, int d, const float *y, int c,
		  const float *pos_w, const uint8_t *heldout,
		  const struct aed_clf_opts *opts, struct aed_clf **out,
		  struct aed_clf_report *rep)
{
	struct aed_clf_opts o = opts ? *opts : (struct aed_clf_opts){ 0 };
	struct aed_clf *m = NULL;
	struct scratch s = { 0 };
	size_t *tr = NULL, *ho = NULL, ntr = 0, nho = 0;
	float *grad = NULL, *m1 = NULL, *m2 = NULL, *best = NULL;
	double *sum = NULL, *sq = NULL, best_loss = DBL_MAX;
	int rc = AED_OK, since_best = 0;

	*out = NULL;
	memset(rep, 0, sizeof *rep);
	if (!o.max_epochs)
		o.max_epochs = 60;
	if (!o.patience)
		o.patience = 6;
	if (!o.batch)
		o.batch = 256;
	if (o.lr <= 0)
		o.lr = 1e-3;
	if (o.l2 < 0)
		o.l2 = 0;
	else if (o.l2 == 0)
		o.l2 = 1e-4;
	if (!o.seed)
		o.seed = 1;
	if (d <= 0 || c <= 0 || o.hidden < 0 || o.batch < 1)
		return aed_error(AED_EUSAGE, "classifier: bad shape (d %d, c %d, hidden %d)", d, c,
				 o.hidden);
	if (!(m = clf_new(d, o.hidden, c)))
		return aed_error(AED_ENOMEM, "out of memory for a classifier");
	tr = malloc((n ? n : 1) * sizeof *tr);
	ho = malloc((n ? n : 1) * sizeof *ho);
	grad = calloc(m->n_params, sizeof *grad);
	m1 = calloc(m->n_params, sizeof *m1);
	m2 = calloc(m->n_params, sizeof *m2);
	best = calloc(m->n_params, sizeof *best);
	sum = calloc((size_t)d, sizeof *sum);
	sq = calloc((size_t)d, sizeof *sq);
	if (!tr || !ho || !grad || !m1 || !m2 || !best || !sum || !sq) {
		rc = aed_error(AED_ENOMEM, "out of memory training a classifier on %zu rows", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (heldout && heldout[i])
			ho[nho++] = i;
		else
			tr[ntr++] = i;
	}
	if (!ntr) {
		rc = aed_error(AED_ESTATE, "classifier: no training rows (%zu held out)", nho);
		goto out;
	}
	standardise(m, x, d, tr, ntr, sum, sq);
	uint64_t seed = o.seed;
	if (m->h) {
		/* He initialisation for the ReLU layer, small output weights. */
		double s1 = sqrt(2.0 / d), s2 = sqrt(1.0 / m->h);
		for (size_t i = 0; i < (size_t)d * m->h; i++)
			m->w1[i] = (float)(s1 * sqrt(-2 * log(rng_uniform(&seed))) *
					   cos(2 * M_PI * rng_uniform(&seed)));
		for (size_t i = 0; i < (size_t)m->h * c; i++)
			m->w2[i] = (float)(s2 * sqrt(-2 * log(rng_uniform(&seed))) *
					   cos(2 * M_PI * rng_uniform(&seed)));
	}
	size_t rows = (size_t)o.batch;
	if ((rc = scratch_init(&s, m, rows > 1024 ? rows : 1024)))
		goto out;
	memcpy(best, m->params, m->n_params * sizeof *best);
	int64_t step = 0;
	for (int ep = 1; ep <= o.max_epochs; ep++) {
		/* Fisher-Yates shuffle of the training rows. */
		for (size_t i = ntr; i > 1; i--) {
			size_t j = aed_splitmix64_next(&seed) % i, t = tr[i - 1];
			tr[i - 1] = tr[j];
			tr[j] = t;
		}
		for (size_t i = 0; i < ntr; i += rows) {
			size_t b = ntr - i < rows ? ntr - i : rows;
			gather(m, x, tr + i, b, &s);
			forward(m, &s, b);
			backward(m, &s, y, tr + i, b, pos_w, o.l2, grad);
			adam_step(m, grad, m1, m2, o.lr, ++step);
		}
		rep->epochs = ep;
		if (!nho) {
			rep->best_epoch = ep;
			continue;
		}
		double l = mean_loss(m, &s, x, y, ho, nho, 1024, pos_w);
		if (!isfinite(l)) {
			rc = aed_error(AED_EINTERNAL, "classifier: held-out loss is %g at epoch %d", l, ep);
			goto out;
		}
		if (l < best_loss - 1e-6) {
			best_loss = l;
			rep->best_epoch = ep;
			memcpy(best, m->params, m->n_params * sizeof *best);
			since_best = 0;
		} else if (++since_best >= o.patience) {
			break;
		}
	}
	if (nho)
		memcpy(m->params, best, m->n_params * sizeof *best);
	rep->n_train = ntr;
	rep->n_heldout = nho;
	rep->train_loss = mean_loss(m, &s, x, y, tr, ntr, 1024, pos_w);
	rep->heldout_loss = nho ? best_loss : NAN;
	*out = m;
	m = NULL;
out:
	scratch_release(&s);
	aed_clf_free(&m);
	free(tr);
	free(ho);
	free(grad);
	free(m1);
	free(m2);
	free(best);
	free(sum);
	free(sq);
	return rc;
}

int aed_clf_predict(const struct aed_clf *m, const float *x, size_t n, float *p)
{
	struct scratch s;
	size_t rows = 1024, *idx = NULL;
	int rc;

	if ((rc = scratch_init(&s, m, rows)))
		goto out;
	if (!(idx = malloc(rows * sizeof *idx))) {
		rc = aed_error(AED_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i += rows) {
		size_t b = n - i < rows ? n - i : rows;
		for (size_t r = 0; r < b; r++)
			idx[r] = i + r;
		gather(m, x, idx, b, &s);
		forward(m, &s, b);
		memcpy(p + i * (size_t)m->c, s.p, b * (size_t)m->c * sizeof *p);
	}
out:
	free(idx);
	scratch_release(&s);
	return rc;
}
