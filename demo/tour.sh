#!/usr/bin/env bash
# Renders every map convscope makes, on the embedded demo model, for one generated picture of
# each class, into demo/out/ (ignored by git), and prints what it wrote.
#
#   demo/tour.sh            # builds the release binary first if needed
#   CONVSCOPE=path demo/tour.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=demo/out
mkdir -p "$out"
bin=${CONVSCOPE:-target/release/convscope}
if [[ -z ${CONVSCOPE:-} ]]; then
  cargo build --release --quiet
fi

# Every method that explains an input, with settings sized for 96x96 pictures.
methods=(saliency guided deconvnet inputxgrad smoothgrad ig gradcam gradcampp hirescam xgradcam
  layercam guided-gradcam scorecam occlusion features)
for img in demo/images/shapes/*.png; do
  name=$(basename "$img" .png)
  for m in "${methods[@]}"; do
    extra=()
    case $m in
      occlusion) extra=(--window 16,16 --stride 8,8) ;;
      smoothgrad) extra=(--samples 25) ;;
    esac
    "$bin" render "$m" demo --image "$img" "${extra[@]}" -o "$out/$name.$m.png" --npy "$out/$name.$m.npy" |
      grep -v '^wrote' || true
    echo "wrote $out/$name.$m.png and .npy"
  done
  "$bin" render occlusion demo --image "$img" --view heatmap -o "$out/$name.occlusion-heatmap.png" >/dev/null
  "$bin" render occlusion demo --image "$img" --view mask -o "$out/$name.occlusion-mask.png" >/dev/null
  echo "wrote $out/$name.occlusion-heatmap.png and $out/$name.occlusion-mask.png"
done

# What does not depend on a picture: the filters, and each class's activation maximization.
"$bin" render filters demo -o "$out/filters.block1_conv1.png" --npy "$out/filters.block1_conv1.npy" >/dev/null
echo "wrote $out/filters.block1_conv1.png"
"$bin" render features demo --layers block1_conv2_relu,block2_conv2_relu,block3_conv2_relu,block4_conv2_relu \
  --channels top:8 -o "$out/features.layers.png" >/dev/null
echo "wrote $out/features.layers.png"
for name in $(ls demo/images/shapes | sed 's/\.png$//'); do
  "$bin" render actmax demo --target "$name" --npy "$out/actmax.$name.npy" -o "$out/actmax.$name.png" >/dev/null
  echo "wrote $out/actmax.$name.png"
done
