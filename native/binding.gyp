{
  "targets": [
    {
      "target_name": "saekit_native",
      "sources": [
        "src/addon.cc",
        "src/topk.cc",
        "src/sparse.cc",
        "src/optim.cc",
        "src/cosine.cc",
        "src/attention.cc",
        "src/bf16.cc",
        "src/encode.cc",
        "src/mpi.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions"
      ],
      "cflags_cc": [
        "-O3",
        "-march=native",
        "-fno-math-errno",
        "-fopenmp",
        "-fexceptions",
        "-std=c++17"
      ],
      "ldflags": [
        "-fopenmp"
      ],
      "libraries": [
        "-lopenblas",
        "-lgomp"
      ],
      "conditions": [
        [
          "'<!(node -p \"process.env.SAEKIT_DNNL || 0\")'=='1'",
          {
            "defines": [
              "SAEKIT_DNNL"
            ],
            "libraries": [
              "-ldnnl"
            ]
          }
        ],
        [
          "'<!(node -p \"process.env.SAEKIT_MPI || 0\")'=='1'",
          {
            "defines": [
              "SAEKIT_MPI"
            ],
            "include_dirs": [
              "<!@(node -p \"process.env.SAEKIT_MPI_INCLUDE || ''\")"
            ],
            "libraries": [
              "<!@(node -p \"process.env.SAEKIT_MPI_LIBS || ''\")"
            ]
          }
        ]
      ]
    }
  ]
}
