// Original file: proto/qstep/v1/model.proto


export interface ListModelsRequest {
}

export interface ListModelsRequest__Output {
}
