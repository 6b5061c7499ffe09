"""What runs in a browser: gan_web.js (G and D on onnxruntime-web), the static site and its builder."""
