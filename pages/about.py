"""What is this? A short explanation of RealNVP and of the app's pages."""

import streamlit as st

from playground.components.shell import ensure_app_shell

ensure_app_shell()  # opened directly on a fresh server: rerun inside app.py's shell

st.title("What is this?")
st.markdown(
    """
**RealNVP Playground** trains *normalizing flows* live in your browser and lets you look inside them.

A normalizing flow is an invertible map **f** from data **x** to a latent **z** that follows a standard normal
distribution. Because **f** is invertible with a tractable Jacobian, the density of the data is exact:
"""
)
st.latex(r"\log p(x) = \log \mathcal{N}\big(f(x);\,0,\,I\big) + \sum_{k} \log\left|\det J_{f_k}\right|")
st.markdown(
    """
**RealNVP** (Dinh, Sohl-Dickstein & Bengio, ICLR 2017) builds **f** from *affine coupling layers*: split the
coordinates in two halves, leave one half unchanged and scale-and-shift the other with amounts computed from the
first.
"""
)
st.latex(r"y_B = x_B \odot \exp\big(s(x_A)\big) + t(x_A), \qquad \log|\det J| = \textstyle\sum_i s_i(x_A)")
st.markdown(
    """
The inverse is just as cheap, so the same model both **scores** points (data → latent) and **samples** new ones
(latent → data). Alternating which half is transformed lets every coordinate change.

**The pages**
- **Playground** — pick a 2-D dataset and an architecture, press ▶ Play and watch the density, the samples and
  the loss move. The dashed green line under the loss is the dataset's *true entropy*: no model can go below it.
- **Layer by layer** — every coupling layer animated, with its log-det and the exact likelihood as a sum of parts.
- **Your own points** — upload a CSV (or paste points) and fit a flow to your own data.
- **Image flows** — multi-scale image RealNVPs trained by this project's own command line.

Every setting of the Playground is in the page's URL: copy it to share a run that reproduces exactly.
"""
)
