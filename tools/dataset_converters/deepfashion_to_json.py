"""Convert DeepFashion attribute lists to MultiLabelDataset JSON files.

Example (the BalanceMix subset sizes, fine-grained 26 attributes)::

    python tools/dataset_converters/deepfashion_to_json.py \
        data/deepfashion/Anno_fine/list_attr_cloth.txt \
        data/deepfashion/Anno_fine/list_attr_img.txt \
        data/deepfashion/Eval/list_eval_partition.txt \
        data/deepfashion/annotations --max-train 16000 --max-val 4000
"""
import argparse

from mmbmix.datasets import convert_deepfashion


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('list_attr_cloth', help='list_attr_cloth.txt')
    parser.add_argument('list_attr_img', help='list_attr_img.txt')
    parser.add_argument('list_eval_partition', help='list_eval_partition.txt')
    parser.add_argument('out_dir', help='folder for <split>.json')
    parser.add_argument(
        '--attributes',
        nargs='+',
        default=None,
        help='attribute names or 0-based indices to keep (default: all when '
        'the file has at most 26, else the 26 most frequent in the first '
        'split)')
    parser.add_argument(
        '--splits',
        nargs='+',
        default=['train', 'val'],
        choices=['train', 'val', 'test'])
    parser.add_argument(
        '--max-train',
        type=int,
        default=None,
        help='most train images (BalanceMix: 16000)')
    parser.add_argument(
        '--max-val',
        type=int,
        default=None,
        help='most val images (BalanceMix: 4000)')
    parser.add_argument('--max-test', type=int, default=None)
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the --max-* subsets')
    parser.add_argument(
        '--img-prefix', default='', help='prepended to each image name')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    attributes = None
    if args.attributes is not None:
        attributes = [int(a) if a.isdigit() else a for a in args.attributes]
    limits = dict(train=args.max_train, val=args.max_val, test=args.max_test)
    written = convert_deepfashion(
        args.list_attr_cloth,
        args.list_attr_img,
        args.list_eval_partition,
        args.out_dir,
        attributes=attributes,
        splits=tuple(args.splits),
        max_per_split=limits,
        seed=args.seed,
        img_prefix=args.img_prefix)
    for split, path in written.items():
        print(f'{split}: {path}')


if __name__ == '__main__':
    main()
